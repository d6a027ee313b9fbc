// Starting the HTTP servers of either mode, and stopping them on SIGTERM/SIGINT.
import type { Server } from 'node:http';
import type { Express } from 'express';
import { logInfo } from './log.js';
import type { Endpoint } from './options.js';

export function listen(app: Express, endpoint: Endpoint, what: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(endpoint.port, endpoint.host, () => {
      logInfo(`${what} listening on ${endpoint.host}:${endpoint.port}`);
      resolve(server);
    });
    server.once('error', (error: Error) => reject(new Error(`cannot listen on ${endpoint.host}:${endpoint.port} for the ${what}: ${error.message}`)));
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
