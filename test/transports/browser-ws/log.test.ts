/** A refusal on a browser channel is one log line at its code's level, with the channel, code and source. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { logRefusal } from '../../../src/transports/browser-ws/browser-socket.ts';
import { errors } from '../../../src/wire/errors.ts';

test('the level comes from the error table; a code outside it is an error', () => {
  const lines: Array<[string, object, string]> = [];
  const log = {
    info: (o: object, m: string) => lines.push(['info', o, m]),
    warn: (o: object, m: string) => lines.push(['warn', o, m]),
    error: (o: object, m: string) => lines.push(['error', o, m]),
  };
  logRefusal(log, { channel: 'browser', code: 'BAD_FRAME', source: '127.0.0.2' });
  logRefusal(log, { channel: 'socket.io', code: 'RATE_LIMITED', source: '127.0.1.1' });
  logRefusal(log, { channel: 'browser', code: 'NOT_A_CODE', source: undefined });
  assert.equal(lines, [
    [errors.BAD_FRAME.level, { channel: 'browser', code: 'BAD_FRAME', source: '127.0.0.2' }, 'browser refused: BAD_FRAME'],
    [errors.RATE_LIMITED.level, { channel: 'socket.io', code: 'RATE_LIMITED', source: '127.0.1.1' }, 'socket.io refused: RATE_LIMITED'],
    ['error', { channel: 'browser', code: 'NOT_A_CODE', source: undefined }, 'browser refused: NOT_A_CODE'],
  ]);
  assert.is.not(errors.BAD_FRAME.level, errors.RATE_LIMITED.level, 'two levels seen');
});

test.run();
