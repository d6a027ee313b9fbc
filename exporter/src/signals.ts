// What each signal a person or systemd may send does. None ends the process without the state saved:
// SIGTERM, SIGINT and SIGQUIT stop it cleanly (exit 0); SIGHUP reloads what can be reloaded; the other
// signals whose default action would end the process end it too, but only after the same clean stop,
// with the shell's 128+n code, so the unit's Restart=always brings it back.
import { constants } from 'node:os';
import type { Server } from 'node:http';
import { drain } from './http-serving.js';
import { logInfo, logWarning } from './log.js';

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
// SIGUSR1 starts Node's inspector and SIGPROF drives V8's profiler: neither is taken over.
const OTHER_ENDING_SIGNALS: NodeJS.Signals[] = ['SIGUSR2', 'SIGALRM', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGPWR'];
/** The whole shutdown may take this long; past it the process exits anyway, so a stop never hangs. */
export const SHUTDOWN_DEADLINE_MS = 8000;
/** How long the answers under way at a stop may take to finish (a password check, a refusal's delay) before their connections are closed. */
const DRAIN_WAIT_MS = 2000;

export interface SignalHandling {
  /** The servers to close; may still be empty (a signal while starting), and filled later. */
  servers: readonly Server[];
  /** SIGHUP; without it SIGHUP is logged and ignored. */
  reload?: () => void;
  /** Runs once the servers took their last request (saving the state); bounded by SHUTDOWN_DEADLINE_MS. */
  beforeExit?: () => Promise<void>;
}

export function onSignals({ servers, reload, beforeExit = async () => {} }: SignalHandling): void {
  let stopping = false;
  const stop = async (signal: NodeJS.Signals, exitCode: number) => {
    if (stopping) {
      logInfo(`${signal}: already shutting down`);
      return;
    }
    stopping = true;
    logInfo(`${signal}: saving and shutting down`);
    setTimeout(() => {
      logWarning(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS} ms: exiting`);
      process.exit(exitCode || 1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    // answers first, while what they read (the log follower) is still open: none is cut off or fails
    const drained = await Promise.all(servers.map((server) => drain(server, DRAIN_WAIT_MS)));
    if (drained.includes(false)) logWarning(`answers still under way after ${DRAIN_WAIT_MS} ms: closing their connections`);
    try {
      await beforeExit();
    } catch (error) {
      logWarning(`shutdown: ${(error as Error).message}`);
    }
    for (const server of servers) server.closeAllConnections();
    process.exit(exitCode);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, () => void stop(signal, 0));
  for (const signal of OTHER_ENDING_SIGNALS) {
    if (constants.signals[signal] === undefined) continue;
    process.on(signal, () => void stop(signal, 128 + constants.signals[signal]));
  }
  process.on('SIGHUP', () => {
    if (stopping) return;
    if (reload) reload();
    else logInfo('SIGHUP: nothing to reload (no --web-config)');
  });
}
