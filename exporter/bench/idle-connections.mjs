// Idle connections to av-exporter from several addresses: each sends nothing and is opened again as soon
// as the exporter closes it, so the flood keeps as many slots as it can. In a process of its own, so its
// work does not slow the process that measures the scrapes. Runs until stdin closes, then prints, as
// JSON on stdout, how many connections it opened.
// Usage: node idle-connections.mjs PORT ADDRESSES PER_ADDRESS
import { connect } from 'node:net';

const [port, addressCount, perAddress] = process.argv.slice(2, 5).map(Number);
let running = true;
let opened = 0;
const sockets = new Set();
process.stdin.on('end', () => {
  running = false;
  for (const socket of sockets) socket.destroy();
  process.stdout.write(JSON.stringify({ opened }));
}).resume();

function open(localAddress) {
  if (!running) return;
  opened++;
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  sockets.add(socket);
  socket.on('error', () => {});
  socket.once('close', () => {
    sockets.delete(socket);
    setImmediate(() => open(localAddress));
  });
}

for (let a = 1; a <= addressCount; a++) for (let i = 0; i < perAddress; i++) open(`127.0.2.${a}`);
