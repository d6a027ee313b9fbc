// A command run to its end, its output collected: how the benchmarks and the e2e wait on a long child.
import { spawn } from 'node:child_process';

/**
 * Runs `command` with `args`, stdout and stderr collected together as they come. Resolves with that output
 * when it exits 0; rejects with an Error naming the command, how it ended and the output's last `tailChars`
 * otherwise. Given `timeoutMs`, it is sent SIGTERM after that long (and so ends with that signal).
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number, tailChars?: number,
 *   onChunk?: (chunk: string, output: string) => void }} [options]
 * @returns {Promise<string>}
 */
export function runCommand(command, args, { cwd, env, timeoutMs, tailChars = 4000, onChunk } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (/** @type {string} */ chunk) => {
      output += chunk;
      onChunk?.(chunk, output);
    };
    for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', collect); // a character split across chunks stays whole
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else {
        const ending = signal ?? `exit code ${code}`;
        reject(new Error(`${command} ${args.join(' ')} ended with ${ending}\n${output.slice(-tailChars)}`));
      }
    });
  });
}

/** An onChunk that hands onLine each whole line (a line split across chunks is handed once, whole). */
export function byLine(/** @type {(line: string) => void} */ onLine) {
  let partial = '';
  return (/** @type {string} */ chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  };
}
