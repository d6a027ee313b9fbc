// The stand end to end, on the local lab: two systemd-nspawn hosts, provisioned by the playbook,
// loaded by siege, reported on, and taken down again. Each phase prints how long it took.
// The lab is brought down at the end whatever happened (a lab that was already up is reused).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { checkFirewall, checkIdempotent, checkServicesActive, checkTargetsUp } from './e2e/stand-checks.mjs';
import { checkReport } from './e2e/report-checks.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const INVENTORY = `${ROOT}inventory/lab/hosts.yml`;
const timings = [];
const failed = new Set();

/** Runs a command from the repository root; resolves with its output, rejects with its tail. */
function run(command, args, { timeoutMs = 20 * 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ANSIBLE_FORCE_COLOR: '0' } });
    let output = '';
    const collect = (chunk) => {
      output += chunk;
      process.stderr.write(chunk); // progress of long phases, live
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} ended with ${signal ?? `exit code ${code}`}\n${output.slice(-4000)}`));
    });
  });
}

/** A phase: timed, and skipped when a phase it needs failed. */
function phase(name, needs, body) {
  test(name, async (t) => {
    const missing = needs.filter((need) => failed.has(need));
    if (missing.length > 0) {
      t.skip(`needs: ${missing.join(', ')}`);
      return;
    }
    const started = Date.now();
    try {
      await body();
    } catch (error) {
      failed.add(name);
      throw error;
    } finally {
      timings.push([name, (Date.now() - started) / 1000]);
    }
  });
}

function labHosts() {
  const inventory = parseYaml(readFileSync(INVENTORY, 'utf8'));
  const hostsOf = (group) => Object.entries(inventory.all?.children?.[group]?.hosts ?? inventory[group]?.hosts ?? {});
  const [prometheus] = hostsOf('prometheus');
  return { prometheus: prometheus[1].ansible_host, nginx: hostsOf('nginx').map(([, vars]) => vars.ansible_host) };
}

async function promValue(prometheusAddress, query) {
  const response = await fetch(`http://${prometheusAddress}:9090/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = await response.json();
  return Number(body.data.result[0]?.value[1] ?? 0);
}

describe('the stand, end to end on the local lab', { timeout: 75 * 60_000 }, () => {
  after(async () => {
    // always leave the machine as it was; the last phase checks that this really removes everything
    if (!timings.some(([name]) => name === 'lab down leaves nothing behind')) {
      await run('npx', ['zx', 'scripts/lab.mjs', 'down']).catch((error) => console.error(error.message));
    }
    console.log('phase timings:');
    for (const [name, seconds] of timings) console.log(`  ${seconds.toFixed(1).padStart(7)} s  ${name}`);
  });

  phase('lab up', [], () => run('npx', ['zx', 'scripts/lab.mjs', 'up']));

  phase('first provisioning', ['lab up'], () => run('ansible-playbook', ['site.yml']));

  phase('second provisioning changes nothing', ['first provisioning'], async () => {
    checkIdempotent(await run('ansible-playbook', ['site.yml']));
  });

  phase('check mode with diff runs clean', ['first provisioning'], async () => {
    checkIdempotent(await run('ansible-playbook', ['site.yml', '--check', '--diff']));
  });

  phase('every service is active on every host', ['first provisioning'], () => checkServicesActive(INVENTORY));

  phase('Prometheus scrapes every target', ['first provisioning'], () => checkTargetsUp(INVENTORY));

  phase('exporter ports answer only the Prometheus host', ['first provisioning'], () => checkFirewall(INVENTORY));

  phase('requests sent to nginx show up in av_nginx_http_requests_total', ['Prometheus scrapes every target'], async () => {
    const { prometheus, nginx } = labHosts();
    const query = 'sum(av_nginx_http_requests_total{status="404"})';
    const before = await promValue(prometheus, query);
    const sent = 25;
    for (let i = 0; i < sent; i++) {
      const response = await fetch(`http://${nginx[0]}/no-such-page-${i}`);
      await response.arrayBuffer();
      assert.equal(response.status, 404);
    }
    const deadline = Date.now() + 60_000;
    let seen = before;
    while (Date.now() < deadline && seen < before + sent) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      seen = await promValue(prometheus, query);
    }
    assert.equal(seen - before, sent, `Prometheus saw ${seen - before} new 404s, ${sent} were sent`);
  });

  phase('a 60 s load run writes a report that matches the exact answers', ['Prometheus scrapes every target'], async () => {
    await run('npx', ['zx', 'scripts/load.mjs', '--duration', '60s']);
    await checkReport(`${ROOT}report/latest`);
  });

  phase('lab down leaves nothing behind', ['lab up'], async () => {
    await run('npx', ['zx', 'scripts/lab.mjs', 'down']);
    assert.equal(existsSync(INVENTORY), false, 'the lab inventory is still there');
    const links = await run('ip', ['-o', 'link', 'show']);
    assert.doesNotMatch(links, /avlab0|vb-/, 'a lab network link is still there');
    const processes = await run('ps', ['-eo', 'args']);
    assert.doesNotMatch(processes, /systemd-nspawn .*avlab|apt-cacher-ng/, 'a lab process is still running');
  });
});
