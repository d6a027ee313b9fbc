// Clients sending a wrong password to av-exporter as fast as it answers, in a process of their own so
// that their work does not slow the process that measures the legitimate scrapes. From 127.0.0.2, as an
// attacker would come from another host than Prometheus; with `spread`, each client from an address of
// its own (127.0.1.1, 127.0.1.2, ...), as a distributed attack would. Runs until stdin closes, then
// prints the answers it got, as JSON, on stdout.
// Usage: node wrong-password-clients.mjs URL CLIENTS [spread]
import { Agent, request } from 'node:http';

const [url, clients, spread] = [process.argv[2], Number(process.argv[3]), process.argv[4] === 'spread'];
const agents = Array.from({ length: spread ? clients : 1 }, (_, i) => new Agent({ keepAlive: true, localAddress: spread ? `127.0.1.${i + 1}` : '127.0.0.2' }));
const headers = { authorization: `Basic ${Buffer.from('prom:wrong').toString('base64')}` };
const statuses = {};
let running = true;
process.stdin.on('end', () => (running = false)).resume();

const get = (agent) => new Promise((resolve) => {
  const req = request(url, { headers, agent }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode));
  });
  req.on('error', () => resolve('error'));
  req.end();
});

await Promise.all(Array.from({ length: clients }, async (_, i) => {
  while (running) {
    const status = await get(agents[i % agents.length]);
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
}));
for (const agent of agents) agent.destroy();
process.stdout.write(JSON.stringify(statuses));
