// Starting the HTTP servers of either mode, with bounds on connections so that idle or slow clients
// cannot take the descriptors and the time Prometheus' scrapes need, and stopping them without cutting
// off an answer under way.
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Express } from 'express';
import { limitConnections, type ConnectionLimits } from './connection-slots.js';
import { logInfo } from './log.js';
import type { Endpoint } from './options.js';

export { METRICS_CONNECTION_LIMITS, type ConnectionLimits } from './connection-slots.js';

/** A request's headers must arrive within this, the whole request within REQUEST_TIMEOUT_MS, a TLS handshake within HANDSHAKE_TIMEOUT_MS. */
const HEADERS_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 10_000;
const HANDSHAKE_TIMEOUT_MS = 5000;
/** How often Node looks for requests past those timeouts (its default, 30 s, lets slow clients linger). */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** Serves `app` on `endpoint`: over HTTPS with `tls` (then plain HTTP to that port gets no answer), else plain HTTP. */
export function listen(app: Express, endpoint: Endpoint, what: string, tls: SecureContextOptions | null = null, limits: ConnectionLimits | null = null): Promise<Server> {
  return new Promise((resolve, reject) => {
    const serverOptions = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS };
    const server: Server = tls
      ? createHttpsServer({ ...tls, ...serverOptions, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, app)
      : createServer(serverOptions, app);
    if (limits) limitConnections(server, limits, what);
    server.once('error', (error: Error) => reject(new Error(`cannot listen on ${endpoint.host}:${endpoint.port} for the ${what}: ${error.message}`)));
    server.listen(endpoint.port, endpoint.host, () => {
      logInfo(`${what} listening on ${endpoint.host}:${endpoint.port}${tls ? ' (HTTPS)' : ''}`);
      resolve(server);
    });
  });
}

/**
 * Stops taking connections and lets the requests under way finish, for at most `waitMs`: every answer
 * from then on closes its connection, and connections without a request are closed at once. True when
 * every connection ended in time (the rest are for the caller to close).
 */
export function drain(server: Server, waitMs: number): Promise<boolean> {
  // before the app's own listener, so the header is set before any answer is written
  server.prependListener('request', (_req, res) => res.setHeader('Connection', 'close'));
  const closed = new Promise<boolean>((resolve) => server.close(() => resolve(true)));
  server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), waitMs)));
  return Promise.race([closed, late]).finally(() => clearTimeout(timer));
}
