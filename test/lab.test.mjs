// The lab's pure parts (apt's two source formats, which mirror it picks, the hosts it plans) and its refusal
// to write into or remove a directory that `up` did not make; its apt proxy's start and stop. No host is started here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  hostSourcesFile,
  parseDeb822Sources,
  parseOneLineSources,
  parseOsRelease,
  pickDebianSources,
  repository,
} from '../scripts/lab/apt-sources.mjs';
import { cgroupHierarchies, hostCgroups, nspawnInOwnCgroup } from '../scripts/lab/cgroups.mjs';
import { inventoryDocument } from '../scripts/lab/inventory.mjs';
import { planHosts } from '../scripts/lab/layout.mjs';
import { canConnect, readText } from '../scripts/lab/processes.mjs';
import { pollUntil } from '../scripts/lib/wait.mjs';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './support/ansible.mjs';

describe("the lab's apt sources", () => {
  test('one-line sources: comments, [options] and blank lines are dropped', () => {
    const text = [
      '# deb http://old.example/debian bookworm main',
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64] http://deb.debian.org/debian bookworm main contrib',
      '',
      'deb-src http://deb.debian.org/debian bookworm main',
      'deb http://security.debian.org/debian-security bookworm-security main # trailing comment',
    ].join('\n');
    assert.deepEqual(parseOneLineSources(text), [
      { types: ['deb'], uri: 'http://deb.debian.org/debian', suites: ['bookworm'] },
      { types: ['deb-src'], uri: 'http://deb.debian.org/debian', suites: ['bookworm'] },
      { types: ['deb'], uri: 'http://security.debian.org/debian-security', suites: ['bookworm-security'] },
    ]);
  });

  test('deb822 sources: several URIs and suites, continuation lines, comments, Enabled: no', () => {
    const text = [
      'Types: deb deb-src',
      '# a comment inside the stanza',
      'URIs: http://deb.debian.org/debian',
      '  https://mirror.example/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      '',
      'Types: deb',
      'URIs: http://off.example/debian',
      'Suites: bookworm',
      'Enabled: no',
      '',
      'Types: deb',
      'URIs: http://deb.debian.org/debian-security',
      'Suites: bookworm-security',
    ].join('\n');
    assert.deepEqual(parseDeb822Sources(text), [
      { types: ['deb', 'deb-src'], uri: 'http://deb.debian.org/debian', suites: ['bookworm', 'bookworm-updates'] },
      { types: ['deb', 'deb-src'], uri: 'https://mirror.example/debian', suites: ['bookworm', 'bookworm-updates'] },
      { types: ['deb'], uri: 'http://deb.debian.org/debian-security', suites: ['bookworm-security'] },
    ]);
  });

  test("the mirror is the one this machine's codename uses; the security archive is optional", () => {
    const entries = [
      { types: ['deb'], uri: 'https://packages.example/apt', suites: ['cloud-sdk-bookworm'] },
      { types: ['deb-src'], uri: 'http://src.example/debian', suites: ['bookworm'] },
      { types: ['deb'], uri: 'http://deb.debian.org/debian/', suites: ['bookworm', 'bookworm-updates'] },
    ];
    assert.deepEqual(pickDebianSources(entries, 'bookworm'), {
      archive: {
        backend: 'http://deb.debian.org/debian/',
        prefix: 'deb.debian.org/debian',
        viaProxy: 'http://deb.debian.org/debian',
      },
      security: null,
    });
    assert.throws(() => pickDebianSources(entries, 'trixie'), /no Debian mirror for trixie/);
  });

  test('an https mirror is fetched over https by the proxy, and asked for over http through it', () => {
    assert.deepEqual(repository('https://mirror.example:8443/debian//'), {
      backend: 'https://mirror.example:8443/debian/',
      prefix: 'mirror.example:8443/debian',
      viaProxy: 'http://mirror.example:8443/debian',
    });
  });

  test("a host's sources name its own release, through the proxy", () => {
    const sources = {
      archive: repository('http://deb.debian.org/debian'),
      security: repository('http://deb.debian.org/debian-security'),
    };
    const text = hostSourcesFile(sources, 'trixie');
    assert.match(text, /URIs: http:\/\/deb\.debian\.org\/debian\nSuites: trixie trixie-updates\n/);
    assert.match(text, /URIs: http:\/\/deb\.debian\.org\/debian-security\nSuites: trixie-security\n/);
    assert.doesNotMatch(hostSourcesFile({ ...sources, security: null }, 'bookworm'), /security/);
  });

  test('os-release: quotes removed', () => {
    assert.deepEqual(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n'), {
      PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)',
      VERSION_CODENAME: 'bookworm',
    });
  });
});

describe("the lab's hosts", () => {
  test('are named unlike their groups, one Prometheus host and N nginx hosts, of one release', () => {
    const hosts = planHosts({ nginx: 3, release: 'bookworm' });
    assert.deepEqual(
      hosts.map((h) => `${h.name}/${h.group}/${h.address}/${h.release}`),
      [
        'prom1/prometheus/10.77.0.10/bookworm',
        'web1/nginx/10.77.0.21/bookworm',
        'web2/nginx/10.77.0.22/bookworm',
        'web3/nginx/10.77.0.23/bookworm',
      ],
    );
    assert.ok(hosts.every((h) => !['prometheus', 'nginx', 'all'].includes(h.name)));
  });

  test('several Prometheus hosts and a VictoriaMetrics host get their own names and addresses', () => {
    const hosts = planHosts({ nginx: 3, prometheus: 2, victoriametrics: true, release: 'trixie' });
    assert.deepEqual(
      hosts.map((h) => `${h.name}/${h.group}/${h.address}`),
      [
        'prom1/prometheus/10.77.0.10',
        'prom2/prometheus/10.77.0.11',
        'web1/nginx/10.77.0.21',
        'web2/nginx/10.77.0.22',
        'web3/nginx/10.77.0.23',
        'vm1/victoriametrics/10.77.0.50',
      ],
    );
    assert.equal(new Set(hosts.map((h) => h.address)).size, hosts.length);
    assert.ok(hosts.every((h) => !['prometheus', 'nginx', 'victoriametrics', 'all'].includes(h.name)));
  });

  test('the inventory has a victoriametrics group only when the lab has that host', () => {
    const without = parseYaml(inventoryDocument(planHosts({ nginx: 1, release: 'trixie' })));
    assert.deepEqual(Object.keys(without.all.children), ['prometheus', 'nginx']);
    const withVm = parseYaml(
      inventoryDocument(planHosts({ nginx: 1, prometheus: 2, victoriametrics: true, release: 'trixie' })),
    );
    assert.deepEqual(Object.keys(withVm.all.children), ['prometheus', 'nginx', 'victoriametrics']);
    assert.deepEqual(Object.keys(withVm.all.children.prometheus.hosts), ['prom1', 'prom2']);
    assert.deepEqual(withVm.all.children.victoriametrics.hosts, { vm1: { ansible_host: '10.77.0.50' } });
  });
});

describe("each lab host's own cgroup tree", () => {
  const V1 = [
    'tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0',
    'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0',
    'cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0',
  ].join('\n');
  const HYBRID = `${V1}\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0`;
  const UNIFIED =
    'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\ncgroup2 /tmp/elsewhere cgroup2 rw 0 0';

  test('in every hierarchy nspawn may take its own cgroup from, and only those', () => {
    assert.deepEqual(cgroupHierarchies(V1), ['/sys/fs/cgroup/systemd']);
    assert.deepEqual(cgroupHierarchies(HYBRID), ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified']);
    assert.deepEqual(cgroupHierarchies(UNIFIED), ['/sys/fs/cgroup']);
    assert.deepEqual(hostCgroups('web1', cgroupHierarchies(HYBRID)), [
      '/sys/fs/cgroup/systemd/av-lab/web1',
      '/sys/fs/cgroup/unified/av-lab/web1',
    ]);
  });

  test('nspawn becomes the process that moved itself there, so it never runs from a shared cgroup', () => {
    const [command, args, env] = nspawnInOwnCgroup('prom1', ['--directory=/x', '--boot']);
    assert.equal(command, 'sh');
    assert.match(args[1], /echo \$\$ > "\$dir\/cgroup\.procs".*exec systemd-nspawn "\$@"$/);
    assert.deepEqual(args.slice(2), ['systemd-nspawn', '--directory=/x', '--boot']);
    assert.deepEqual(env.AV_LAB_CGROUPS.split(' '), hostCgroups('prom1'));
    assert.ok(
      env.AV_LAB_CGROUPS.split(' ').every((dir) => dir.endsWith('/av-lab/prom1')),
      env.AV_LAB_CGROUPS,
    );
  });
});

describe('the lab refuses directories it did not make', () => {
  const lab = (command, env, ...args) =>
    spawnSync('npx', ['zx', 'scripts/lab.mjs', command, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });

  test('down: an AV_LAB_DIR without the mark is left as it is, with an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'not-a-lab-'));
    writeFileSync(join(dir, 'precious.txt'), 'keep me');
    try {
      const result = lab('down', { AV_LAB_DIR: dir, AV_LAB_CACHE: join(dir, 'cache') });
      assert.equal(result.status, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /AV_LAB_DIR=.* was not made by lab up .*refusing to remove it/);
      assert.equal(readFileSync(join(dir, 'precious.txt'), 'utf8'), 'keep me');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('replace: only hosts the lab has, named; otherwise an error before anything is made', () => {
    const base = mkdtempSync(join(tmpdir(), 'lab-replace-'));
    const env = { AV_LAB_DIR: join(base, 'state'), AV_LAB_CACHE: join(base, 'cache') };
    try {
      const none = lab('replace', env);
      assert.equal(none.status, 1, none.stdout + none.stderr);
      assert.match(none.stderr, /replace takes the names of the lab's hosts: it has none/);
      const unknown = lab('replace', env, 'vm1', 'web1');
      assert.equal(unknown.status, 1, unknown.stdout + unknown.stderr);
      assert.match(unknown.stderr, /vm1, web1: not a host of the lab, which has none/);
      assert.deepEqual(readdirSync(base), [], 'replace made something');
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  test('up: a non-empty AV_LAB_CACHE without the mark is refused before anything is made', () => {
    const state = join(mkdtempSync(join(tmpdir(), 'lab-state-')), 'state');
    const cache = mkdtempSync(join(tmpdir(), 'not-a-cache-'));
    writeFileSync(join(cache, 'precious.txt'), 'keep me');
    try {
      const result = lab('up', { AV_LAB_DIR: state, AV_LAB_CACHE: cache });
      assert.equal(result.status, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /AV_LAB_CACHE=.* is not empty and was not made by lab up/);
      assert.equal(readFileSync(join(cache, 'precious.txt'), 'utf8'), 'keep me');
      assert.equal(existsSync(join(cache, '.made-by-av-lab')), false);
    } finally {
      rmSync(cache, { recursive: true, force: true });
      rmSync(join(state, '..'), { recursive: true, force: true });
    }
  });
});

// The proxy's own start and stop, run against a throw-away AV_LAB_DIR: no bridge, no host. CI once lost track
// of an apt-cacher-ng the lab had started, and every later lab failed to bind the port it kept.
describe("the lab's apt proxy", () => {
  const proxyModule = join(ROOT, 'scripts/lab/apt-proxy.mjs');
  const callProxy = (state, call) =>
    spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `const proxy = await import(${JSON.stringify(proxyModule)}); await proxy.${call};`],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, AV_LAB_DIR: state, AV_LAB_CACHE: join(state, 'cache') },
      },
    );

  test('down stops an apt-cacher-ng that runs with the lab config but that no pid file names', async () => {
    const state = mkdtempSync(join(tmpdir(), 'lab-proxy-'));
    const config = join(state, 'apt-cacher-ng');
    mkdirSync(config);
    const port = await freePortBelow32768();
    writeFileSync(
      join(config, 'acng.conf'),
      [
        `CacheDir: ${state}/cache`,
        `LogDir: ${state}`,
        'SupportDir: /usr/lib/apt-cacher-ng',
        `SocketPath: ${state}/socket`,
      ]
        .concat(['BindAddress: 127.0.0.1', `Port: ${port}`, 'ForeGround: 1', ''])
        .join('\n'),
    );
    // started by a shell that exits at once, as the lab's proxy outlives the lab.mjs that started it
    const stray = Number(
      spawnSync('sh', ['-c', 'apt-cacher-ng -c "$1" >/dev/null 2>&1 & echo $!', 'sh', config], { encoding: 'utf8' })
        .stdout,
    );
    const strayRuns = () => readText(`/proc/${stray}/cmdline`).includes(config);
    try {
      await pollUntil(() => canConnect('127.0.0.1', port), { seconds: 15, what: 'apt-cacher-ng listening' });
      const result = callProxy(state, 'stopAptProxy()');
      const output = result.stdout + result.stderr;
      assert.equal(result.status, 0, output);
      assert.match(
        output,
        new RegExp(`\\(pid ${stray}\\) runs with the lab's config, but no pid file names it; stopping it`),
      );
      assert.match(output, new RegExp(`apt-cacher-ng: stopped \\(pid ${stray}\\)`));
      assert.equal(strayRuns(), false, 'apt-cacher-ng still runs');
    } finally {
      if (strayRuns()) process.kill(stray);
      rmSync(state, { recursive: true, force: true });
    }
  });

  test("up names who holds the proxy's port, before it writes or starts anything", async () => {
    const state = mkdtempSync(join(tmpdir(), 'lab-proxy-'));
    const holder = net.createServer();
    // held here when free; a lab already up on this machine holds it otherwise, and is named the same way
    await new Promise((resolve) => holder.once('error', resolve).listen(3142, '0.0.0.0', () => resolve(true)));
    try {
      const sources = { archive: { prefix: 'http://deb.debian.org/debian', backend: 'http://deb.debian.org/debian/' } };
      const result = callProxy(state, `ensureAptProxy(${JSON.stringify(sources)})`);
      assert.equal(result.status, 1, result.stdout + result.stderr);
      assert.match(
        result.stderr,
        /apt proxy: port 3142 on 10\.77\.0\.1 is taken by \S+ \(pid \d+\) on \S+:3142; the lab's apt-cacher-ng needs it/,
      );
      assert.deepEqual(readdirSync(state), [], 'something was written before the refusal');
    } finally {
      holder.close();
      rmSync(state, { recursive: true, force: true });
    }
  });
});

/** A port free on 127.0.0.1 below the kernel's ephemeral range: apt-cacher-ng 3.7 never listened on 39769. */
async function freePortBelow32768() {
  for (let port = 23142; port < 23242; port++) {
    const server = net.createServer();
    const free = await new Promise((resolve) =>
      server.once('error', () => resolve(false)).listen(port, '127.0.0.1', () => resolve(true)),
    );
    if (free) {
      await new Promise((resolve) => server.close(resolve));
      return port;
    }
  }
  throw new Error('no free port from 23142 to 23241 on 127.0.0.1');
}
