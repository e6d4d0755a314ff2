/**
 * MemoryBus (src/adapters/memory/bus.ts): the Bus contract on two buses sharing one broker;
 * then what is its own: errors of handlers reach `onError`, `settled()`, three "processes" on
 * one broker, and a closed bus refusing calls.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryBroker, MemoryBus } from '../../src/adapters/memory/bus.ts';
import type { Json } from '../../src/ports.ts';
import { busContract } from './bus.contract.ts';

const errors: { error: unknown; topic: string }[] = [];

busContract(
  async () => {
    const broker = new MemoryBroker({ onError: (error, topic) => errors.push({ error, topic }) });
    return [new MemoryBus(broker), new MemoryBus(broker)];
  },
  { name: 'MemoryBus: Bus contract' },
);

test("the contract's throwing handlers reached onError (not stderr), with their topic", () => {
  assert.is(errors.length, 8);
  for (const { error, topic } of errors) {
    assert.match((error as Error).message, /expected in this test/);
    assert.match(topic, /^contract:/);
  }
});

test('settled() resolves once everything published so far is delivered, handlers publishing more included', async () => {
  const broker = new MemoryBroker();
  const bus = new MemoryBus(broker);
  await broker.settled(); // nothing queued: at once
  const got: Json[] = [];
  await bus.subscribe('ping', (n) => {
    got.push(n);
    if ((n as number) < 5) void bus.publish('ping', (n as number) + 1);
  });
  await bus.publish('ping', 0);
  assert.equal(got, [], 'not delivered yet');
  await broker.settled();
  assert.equal(got, [0, 1, 2, 3, 4, 5]);
  await bus.close();
});

test('three buses on one broker: every one hears every other; a bus of its own hears none of them', async () => {
  const broker = new MemoryBroker();
  const buses = [new MemoryBus(broker), new MemoryBus(broker), new MemoryBus(broker)];
  const alone = new MemoryBus();
  const got: string[][] = [[], [], [], []];
  for (const [i, bus] of [...buses, alone].entries()) await bus.subscribe('t', (m) => void got[i]!.push(m as string));
  for (const [i, bus] of buses.entries()) await bus.publish('t', `from ${i}`);
  await alone.publish('t', 'alone');
  await broker.settled();
  await alone.broker.settled();
  for (let i = 0; i < 3; i++) assert.equal(got[i], ['from 0', 'from 1', 'from 2']);
  assert.equal(got[3], ['alone']);
  for (const bus of [...buses, alone]) await bus.close();
});

test('a closed MemoryBus refuses publish and subscribe; close again does nothing', async () => {
  const bus = new MemoryBus();
  await bus.close();
  await bus.publish('t', 1).then(
    () => assert.unreachable('resolved'),
    (error: Error) => assert.match(error.message, /closed/),
  );
  await bus
    .subscribe('t', () => {})
    .then(
      () => assert.unreachable('resolved'),
      (error: Error) => assert.match(error.message, /closed/),
    );
  await bus.close();
});

test('a message that is not JSON is refused at publish', async () => {
  const bus = new MemoryBus();
  await bus.publish('t', undefined as never).then(
    () => assert.unreachable('resolved'),
    (error: Error) => assert.instance(error, TypeError),
  );
  await bus.close();
});

test.run();
