// Starting the HTTP servers of either mode, and stopping them on SIGTERM/SIGINT.
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Express } from 'express';
import { logInfo } from './log.js';
import type { Endpoint } from './options.js';

/** Serves `app` on `endpoint`: over HTTPS with `tls` (then plain HTTP to that port gets no answer), else plain HTTP. */
export function listen(app: Express, endpoint: Endpoint, what: string, tls: SecureContextOptions | null = null): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server: Server = tls ? createHttpsServer(tls, app) : createServer(app);
    server.once('error', (error: Error) => reject(new Error(`cannot listen on ${endpoint.host}:${endpoint.port} for the ${what}: ${error.message}`)));
    server.listen(endpoint.port, endpoint.host, () => {
      logInfo(`${what} listening on ${endpoint.host}:${endpoint.port}${tls ? ' (HTTPS)' : ''}`);
      resolve(server);
    });
  });
}

/** On SIGTERM or SIGINT: runs `beforeClose`, closes the servers, exits 0. */
export function stopOnSignals(servers: Server[], beforeClose: () => Promise<void> = async () => {}): void {
  const stop = async (signal: string) => {
    logInfo(`${signal}: shutting down`);
    await beforeClose();
    for (const server of servers) server.closeAllConnections();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
