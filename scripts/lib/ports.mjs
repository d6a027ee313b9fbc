// A TCP port free on loopback, for a server a test or a script starts there.
import { createServer } from 'node:net';

/**
 * A port that nothing listened on a moment ago on `host` (the kernel's pick for port 0).
 * @param {string} [host]
 * @returns {Promise<number>}
 */
export const freePort = (host = '127.0.0.1') =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(address.port));
    });
  });
