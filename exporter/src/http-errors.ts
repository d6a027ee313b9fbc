// What a client gets when a path does not exist or answering failed: a short plain-text status line,
// never Express's HTML page, a stack or a path. The reason goes to the log instead, at most one line
// every few seconds so a failing collector cannot flood the journal.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { logWarning } from './log.js';

const LOG_INTERVAL_MS = 10_000;

export const answerNotFound: RequestHandler = (_req, res) => {
  res.status(404).type('text/plain').send('404 Not Found: try /metrics or /healthz\n');
};

/**
 * A failure while answering (a collector that threw, a file handle closed under it) is answered 503:
 * nothing is wrong with the request, and the next scrape is likely to work. Errors Express marks as the
 * client's (a malformed URL: 400) keep their status.
 */
export function answerErrors(what: string): ErrorRequestHandler {
  let loggedAt = 0;
  let unlogged = 0;
  return (error: unknown, req, res, _next) => {
    const clientStatus = clientErrorStatus(error);
    if (clientStatus === null) {
      if (Date.now() - loggedAt >= LOG_INTERVAL_MS) {
        logWarning(`${what}: answered 503 to ${req.method} ${req.path}: ${shortReason(error)}${unlogged > 0 ? ` (and ${unlogged} more since the last such line)` : ''}`);
        loggedAt = Date.now();
        unlogged = 0;
      } else {
        unlogged++;
      }
    }
    // a body already begun cannot be turned into a status: the client sees the connection end early
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (clientStatus !== null) {
      res.status(clientStatus).type('text/plain').send(`${clientStatus} Bad Request\n`);
      return;
    }
    res.status(503).set('Retry-After', '1').type('text/plain').send('503 Service Unavailable: could not answer just now; try again\n');
  };
}

function clientErrorStatus(error: unknown): number | null {
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : null;
}

function shortReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split('\n', 1)[0] ?? '';
  return firstLine.length > 200 ? `${firstLine.slice(0, 200)}…` : firstLine;
}
