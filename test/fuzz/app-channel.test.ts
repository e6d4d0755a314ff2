/**
 * The app channel under the fuzzer (test/fuzz/app-channel.ts), seeded: at least 10,000 frames
 * (random bytes, random msgpack, mutated real frames, sealed frames with wrong counters, boxes and
 * keys) against a real NS over real sockets, from several source addresses. No crash, every frame
 * answered with a code the error table and docs/errors.md give the app channel (or closed with a
 * close code they give), never INTERNAL; afterwards the store is what it was, the waiting
 * session still waits, and a real login works. The long form: `npm run fuzz -- --frames N`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { codeProblem, closeProblem, DOCUMENTED, describe, FUZZ_ENV, fuzz, inProcess, prepare, TABLE_ANSWER_CODES, TABLE_CLOSES, verifyAfter, type Fixture } from './app-channel.ts';

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_611);

let ns: TestServer;
let fx: Fixture;

test.before(async () => {
  ns = await startTestServer(FUZZ_ENV);
  fx = await prepare(inProcess(ns));
});
test.after(() => ns.stop(true));

test('the allowed answers and closes come from the error table, and docs/errors.md documents the same ones', () => {
  assert.ok(TABLE_ANSWER_CODES.has('BAD_FRAME') && !TABLE_ANSWER_CODES.has('INTERNAL') && !TABLE_ANSWER_CODES.has('NOT_FOUND'));
  assert.equal([...TABLE_CLOSES.keys()].sort(), [1008, 1009]);
  assert.equal(
    [...TABLE_ANSWER_CODES].filter((c) => !DOCUMENTED.answers.has(c)),
    [],
    'every app-channel answer of the table is documented',
  );
  assert.equal([...DOCUMENTED.closes.keys()].sort(), [...TABLE_CLOSES.keys()].sort());
  assert.is(codeProblem('INTERNAL'), 'INTERNAL');
  assert.ok(codeProblem('FORBIDDEN'), 'a REST-only code is no app answer');
  assert.is(closeProblem(1008, 'BAD_BOX'), undefined);
  assert.ok(closeProblem(1008, 'UNKNOWN_SESSION'));
  assert.ok(closeProblem(1007, ''));
});

test(`${FRAMES} fuzzed frames (seed ${SEED}): no crash, only documented codes and closes, nothing changed, a real login still works`, async () => {
  const started = Date.now();
  const report = await fuzz(fx, { frames: FRAMES, seed: SEED });
  console.log(`  ${((Date.now() - started) / 1000).toFixed(1)} s\n  ${describe(report).join('\n  ')}`);
  assert.ok(report.frames >= FRAMES);
  assert.ok(report.sealedCases > 0, 'sealed connections were fuzzed');
  assert.ok((report.codes.get('BAD_FRAME') ?? 0) > 0 && (report.codes.get('BAD_MESSAGE') ?? 0) > 0, 'the parser was reached');
  assert.ok((report.answers.get('challenge') ?? 0) > 0, 'fresh hellos got challenges');
  assert.ok(
    [...report.closes.keys()].some((k) => k.startsWith('1008 ')),
    'sealed frames that do not open closed their connections',
  );
  const { problems } = await verifyAfter(fx);
  assert.equal(problems, []);
});

test.run();
