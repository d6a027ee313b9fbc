// The scripts' shared helpers (scripts/lib/): pollUntil's contract, freePort, say's line, runCommand.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { freePort } from '../scripts/lib/ports.mjs';
import { byLine, runCommand } from '../scripts/lib/run-command.mjs';
import { sayAs } from '../scripts/lib/say.mjs';
import { pollUntil } from '../scripts/lib/wait.mjs';

describe('pollUntil', () => {
  test('resolves with the first truthy value, checking every intervalMs', async () => {
    let calls = 0;
    const value = await pollUntil(async () => (++calls === 3 ? { ready: true } : null), { seconds: 5, intervalMs: 10 });
    assert.deepEqual([value, calls], [{ ready: true }, 3]);
  });

  test('past the deadline, checks once more, then rejects naming what and the last value', async () => {
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      pollUntil(() => (++calls, 0), { seconds: 0.2, intervalMs: 50, what: 'answer' }),
      { message: 'no answer within 0.2 s; the last check gave 0' },
    );
    assert.ok(Date.now() - started >= 200, 'gave up before the deadline');
    assert.ok(calls >= 4, `${calls} checks`);
  });

  test('onTimeout decides what a timeout gives, from the last value', async () => {
    assert.equal(await pollUntil(() => false, { seconds: 0, onTimeout: () => false }), false);
    assert.equal(
      await pollUntil(() => '', { seconds: 0, onTimeout: (last) => `last ${JSON.stringify(last)}` }),
      'last ""',
    );
    await assert.rejects(
      pollUntil(() => null, {
        seconds: 0,
        onTimeout: () => {
          throw new Error('own message');
        },
      }),
      { message: 'own message' },
    );
  });

  test('an error thrown by check ends the wait at once; seconds is required', async () => {
    await assert.rejects(
      pollUntil(
        () => {
          throw new Error('broken');
        },
        { seconds: 60 },
      ),
      { message: 'broken' },
    );
    await assert.rejects(
      pollUntil(() => true, /** @type {any} */ ({})),
      TypeError,
    );
  });
});

test('freePort gives a port that a server can listen on at once', async () => {
  const port = await freePort();
  assert.ok(Number.isInteger(port) && port > 0);
  const server = createServer();
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve(null)));
  await new Promise((resolve) => server.close(resolve));
});

test("say prints '<prefix>: <text>' on standard output", (t) => {
  const log = t.mock.method(console, 'log', () => {});
  sayAs('load')('warm-up done');
  assert.deepEqual(
    log.mock.calls.map((call) => call.arguments),
    [['load: warm-up done']],
  );
});

describe('runCommand', () => {
  test('resolves with stdout and stderr together; byLine hands whole lines, one split across chunks once', async () => {
    const lines = [];
    const script = 'printf "a\\nb"; sleep 0.1; printf "c\\nd\\n" >&2';
    const output = await runCommand('sh', ['-c', script], { onChunk: byLine((line) => lines.push(line)) });
    assert.equal(output, 'a\nbc\nd\n');
    assert.deepEqual(lines, ['a', 'bc', 'd']);
  });

  test('rejects naming the command, its exit code and the end of its output', async () => {
    await assert.rejects(runCommand('sh', ['-c', 'echo one; echo two; exit 3'], { tailChars: 4 }), {
      message: 'sh -c echo one; echo two; exit 3 ended with exit code 3\ntwo\n',
    });
  });

  test('a command past timeoutMs is sent SIGTERM and rejects with it', async () => {
    await assert.rejects(runCommand('sleep', ['10'], { timeoutMs: 100 }), {
      message: /^sleep 10 ended with SIGTERM\n/,
    });
  });

  test('a command that cannot start rejects', async () => {
    await assert.rejects(runCommand('/nonexistent/command', []), { code: 'ENOENT' });
  });
});
