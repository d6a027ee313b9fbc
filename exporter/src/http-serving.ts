// Starting the HTTP servers of either mode, with bounds on connections so that idle or slow clients
// cannot take the descriptors and the time Prometheus' scrapes need.
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Express } from 'express';
import { logInfo, logWarning } from './log.js';
import type { Endpoint } from './options.js';

export interface ConnectionLimits {
  /** Open connections at most; past it new ones are closed at once. Keep well under the unit's LimitNOFILE. */
  maxConnections: number;
  /** Open connections from one address at most, so one client cannot take them all. */
  maxConnectionsPerAddress: number;
}

/** For /metrics: Prometheus needs one connection per scrape; people and probes a few more. */
export const METRICS_CONNECTION_LIMITS: ConnectionLimits = { maxConnections: 512, maxConnectionsPerAddress: 64 };

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

function limitConnections(server: Server, limits: ConnectionLimits, what: string): void {
  server.maxConnections = limits.maxConnections;
  const perAddress = new Map<string, number>();
  let warnedAt = 0;
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const open = (perAddress.get(address) ?? 0) + 1;
    if (open > limits.maxConnectionsPerAddress) {
      socket.destroy();
      if (Date.now() - warnedAt > 60_000) {
        warnedAt = Date.now();
        logWarning(`${what}: ${address} has ${limits.maxConnectionsPerAddress} connections open already: closing its new ones`);
      }
      return;
    }
    perAddress.set(address, open);
    socket.once('close', () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
  });
}
