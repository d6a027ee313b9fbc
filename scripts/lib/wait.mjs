// Waiting for something to become true: the one polling loop of the scripts and the tests.
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

/**
 * Calls `check` (sync or async) until it returns a truthy value, and resolves with that value. It checks at
 * once, then every `intervalMs` until `seconds` have passed, and once more after that. When even that last
 * check is falsy, it rejects with an Error `no <what> within <seconds> s; the last check gave <its value>`,
 * or, given `onTimeout`, resolves with `onTimeout(last)` instead (which may also throw an error of its own;
 * `() => false` makes the wait a yes or no). An error thrown by `check` is not caught: it ends the wait.
 *
 * @template T
 * @param {() => T | Promise<T>} check
 * @param {{ seconds: number, intervalMs?: number, what?: string, onTimeout?: (last: T) => any }} options
 * @returns {Promise<any>} check's first truthy value, or what onTimeout returns
 */
export async function pollUntil(check, { seconds, intervalMs = 250, what = 'success', onTimeout }) {
  if (!(seconds >= 0)) throw new TypeError(`pollUntil: seconds must be a number of seconds, not ${seconds}`);
  const deadline = Date.now() + seconds * 1000;
  let last = await check();
  while (!last && Date.now() < deadline) {
    await sleep(intervalMs);
    last = await check();
  }
  if (last) return last;
  if (onTimeout) return onTimeout(last);
  const shown = inspect(last, { depth: 4, breakLength: Infinity, maxStringLength: 2000 });
  throw new Error(`no ${what} within ${seconds} s; the last check gave ${shown}`);
}
