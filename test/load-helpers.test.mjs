// The load script's pure helpers: its options, siege's output, the exact answers the PromQL ones are
// judged by, and the inventory reader.
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import {
  counterDelta,
  exactQuantile,
  logLinesByStatus,
  reconcileWithSiege,
  requestTimesInWindow,
  withinP99Bound,
} from '../scripts/lib/exact-answers.mjs';
import {
  everyHost,
  readInventory,
  splitShellWords,
  sshArguments,
  standUrls,
  sudoPrefix,
} from '../scripts/lib/inventory.mjs';
import { execFileSync } from 'node:child_process';
import { accessLogPath, exporterLocalUrl, LOG_SINCE_SCRIPT } from '../scripts/lib/nginx-hosts.mjs';
import { addUp, histogramQuantile } from '../scripts/lib/shards.mjs';
import { summaryMarkdown } from '../scripts/lib/summary.mjs';
import { baseUrl, parseDuration, parseOptions, parseUrlList, readUrlList } from '../scripts/lib/options.mjs';
import { parseSiegeOutput, SIEGE_RC, siegeArguments, siegeCountsAsFailed } from '../scripts/lib/siege.mjs';

const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

describe('exact answers', () => {
  test('the nearest-rank p99 of 1..100 is 99, of 1..1000 is 990, of nothing is null', () => {
    assert.equal(
      exactQuantile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        0.99,
      ),
      99,
    );
    assert.equal(
      exactQuantile(
        Array.from({ length: 1000 }, (_, i) => 1000 - i),
        0.99,
      ),
      990,
    );
    assert.equal(exactQuantile([0.5], 0.99), 0.5);
    assert.equal(exactQuantile([], 0.99), null);
  });

  test('the nearest-rank p99 of 101 values is the 100th smallest', () => {
    assert.equal(
      exactQuantile(
        Array.from({ length: 101 }, (_, i) => i / 1000),
        0.99,
      ),
      0.099,
    );
  });

  test('counter deltas count series that appeared during the run from zero and leave out unchanged ones', () => {
    assert.deepEqual(counterDelta({ 200: 10, 404: 3 }, { 200: 25, 404: 3, 500: 2 }), { 200: 15, 500: 2 });
  });

  test('only log lines inside the window (from, to] count, malformed ones never', () => {
    const log = [
      '{"msec":100.000,"request_time":0.5}',
      '{"msec":100.001,"request_time":0.25}',
      'not json',
      '{"msec":130.5,"request_time":"x"}',
      '{"msec":160.000,"request_time":0.125}',
      '{"msec":160.001,"request_time":9}',
    ].join('\n');
    assert.deepEqual(requestTimesInWindow(log, 100, 160), [0.25, 0.125]);
  });

  test('the p99 bound is max(5 %, 1 ms)', () => {
    assert.equal(withinP99Bound(0.105, 0.1), true);
    assert.equal(withinP99Bound(0.095, 0.1), true);
    assert.equal(withinP99Bound(0.106, 0.1), false);
    assert.equal(withinP99Bound(0.0059, 0.005), true);
    assert.equal(withinP99Bound(0.0061, 0.005), false);
  });

  test("only this run's requests count, by their exact User-Agent", () => {
    const log = [
      '{"status":200,"http_user_agent":"av-load/1"}',
      '{"status":404,"http_user_agent":"av-load/1"}',
      '{"status":200,"http_user_agent":"av-load/10"}',
      '{"status":200,"http_user_agent":"curl"}',
      '{"status":200,"http_user_agent":"av-load/1"',
      '{"status":200,"http_user_agent":"av-load/1"}',
    ].join('\n');
    assert.deepEqual(logLinesByStatus(log, 'av-load/1'), { 200: 2, 404: 1 });
  });
});

describe('siege', () => {
  const json =
    '{\t"transactions":\t\t\t           4,\n\t"failed_transactions":\t\t           1,\n\t"successful_transactions":\t           3\n}\n';

  test('its JSON summary is read from the end of its output', () => {
    assert.deepEqual(parseSiegeOutput(`[alert] a warning first\n${json}`), {
      transactions: 4,
      failed_transactions: 1,
      successful_transactions: 3,
    });
  });

  test('no JSON summary is an error that shows the end of its output', () => {
    assert.throws(() => parseSiegeOutput('[error] descriptor table full sock.c:133: Too many open files'), {
      message: /^siege printed no JSON summary; its output ended with:\n\[error\] descriptor table full/,
    });
    assert.throws(() => parseSiegeOutput('{"transactions": 4}'), {
      message: /^siege's JSON summary has no failed_transactions/,
    });
  });

  test('5xx and 408 are its failed transactions, 404 is a transaction', () => {
    assert.deepEqual(['200', '301', '404', '408', '499', '500', '503', '509', '510'].map(siegeCountsAsFailed), [
      false,
      false,
      false,
      true,
      false,
      true,
      true,
      true,
      false,
    ]);
  });

  test('it parses no HTML, follows no redirect, never stops on failures, and marks its requests', () => {
    assert.match(SIEGE_RC, /^parser = false$/m);
    assert.match(SIEGE_RC, /^follow-location = false$/m);
    assert.match(SIEGE_RC, /^failures = 0$/m);
    assert.match(SIEGE_RC, /^logging = false$/m);
    assert.match(SIEGE_RC, /^connection = close$/m);
    const args = siegeArguments({
      rcFile: '/w/rc',
      urlFile: '/w/urls',
      concurrency: 10,
      seconds: 60,
      delaySeconds: 0.2,
      userAgent: 'av-load/x',
    });
    for (const flag of [
      '--no-parser',
      '--no-follow',
      '--json-output',
      '--internet',
      '--time=60S',
      '--concurrent=10',
      '--user-agent=av-load/x',
      '--rc=/w/rc',
      '--file=/w/urls',
    ]) {
      assert.ok(args.includes(flag), `${flag} in ${args}`);
    }
  });
});

describe('siege and the counters account for each other', () => {
  // a 5-minute lab run: the counters' delta, and siege's summary
  const exact = { 200: 18937, 301: 1930, 404: 3916, 499: 1, 500: 258, 503: 237 };
  const siege = { transactions: 24783, failed_transactions: 495, successful_transactions: 20867 };

  test('every request is accounted for: one cut off by the end, logged as 499', () => {
    const accounting = reconcileWithSiege({ exact, siege, concurrency: 10 });
    assert.deepEqual(accounting.problems, []);
    assert.deepEqual(accounting.cut_off, {
      transactions: 0,
      failed_transactions: 0,
      successful_transactions: 0,
      closed_by_client_499: 1,
    });
    assert.equal(accounting.cut_off_total, 1);
  });

  test('requests cut off after nginx answered them keep their status', () => {
    const accounting = reconcileWithSiege({ exact: { ...exact, 200: 18939, 503: 238 }, siege, concurrency: 10 });
    assert.deepEqual(accounting.problems, []);
    assert.deepEqual(accounting.cut_off, {
      transactions: 2,
      failed_transactions: 1,
      successful_transactions: 2,
      closed_by_client_499: 1,
    });
    assert.equal(accounting.cut_off_total, 4);
  });

  /** @type {[name: string, change: { exact?: typeof exact, siege?: typeof siege }, message: RegExp][]} */
  const broken = [
    [
      'transactions the counters missed',
      { exact: { ...exact, 404: 3915 } },
      /^siege counted 24783 transactions, but the counters grew by only 24782 answers other than 408, 5xx and 499$/,
    ],
    [
      'requests that failed without an answer',
      { siege: { ...siege, failed_transactions: 500 } },
      /^siege counted 500 failed transactions, but the counters grew by only 495 408\/5xx answers: 5 requests failed without an answer$/,
    ],
    [
      'more successes than answers below 400',
      { siege: { ...siege, successful_transactions: 20868 } },
      /^siege counted 20868 successful transactions, the counters grew by 20867 answers below 400$/,
    ],
    [
      'more requests cut off than users',
      { exact: { ...exact, 200: 18950 } },
      /^14 requests reached nginx that siege did not count: more than one per user \(10\)$/,
    ],
  ];
  for (const [name, change, message] of broken) {
    test(`a problem: ${name}`, () => {
      const { problems } = reconcileWithSiege({ exact, siege, concurrency: 10, ...change });
      assert.ok(
        problems.some((p) => message.test(p)),
        problems.join('\n'),
      );
    });
  }
});

describe('options', () => {
  test('no flags: the lab, 5 minutes, 10 users, scripts/urls.txt, report/', () => {
    const opts = parseOptions({ _: [] }, ROOT);
    assert.deepEqual(opts.duration, { text: '5m', seconds: 300 });
    assert.equal(opts.concurrency, 10);
    assert.equal(opts.inventoryFile, `${ROOT}/inventory/lab/hosts.yml`);
    assert.equal(opts.urlsFile, `${ROOT}/scripts/urls.txt`);
    assert.equal(opts.out, `${ROOT}/report`);
    assert.equal(opts.targets, null);
    assert.equal(opts.help, false);
  });

  test('--target once per host spreads the load over them', () => {
    assert.deepEqual(
      parseOptions({ _: [], target: ['http://10.0.0.21', 'http://10.0.0.22/', 'http://10.0.0.21/'] }, ROOT).targets,
      ['http://10.0.0.21/', 'http://10.0.0.22/'],
    );
  });

  test('durations in s, m and h', () => {
    assert.deepEqual(
      ['60s', '5m', '1h'].map((d) => parseDuration(d).seconds),
      [60, 300, 3600],
    );
  });

  const bad = [
    ['an unknown flag', { _: [], durration: '5m' }, /^unknown argument: --durration$/],
    ['a stray word', { _: ['now'] }, /^unknown argument: now$/],
    [
      'a duration without a unit',
      { _: [], duration: 60 },
      /^--duration takes a whole number and s, m or h \(60s, 5m, 1h\), got "60"$/,
    ],
    ['a zero duration', { _: [], duration: '0s' }, /got "0s"/],
    ['a fractional duration', { _: [], duration: '1.5m' }, /got "1.5m"/],
    ['a flag with no value', { _: [], target: true }, /^--target needs a value$/],
    ['a second --target with no value', { _: [], target: ['http://10.0.0.21/', true] }, /^--target needs a value$/],
    ['a flag twice', { _: [], duration: ['1m', '2m'] }, /^--duration given more than once$/],
    ['too many users', { _: [], concurrency: 1000 }, /^--concurrency takes a whole number from 1 to 500, got "1000"$/],
    ['users that are not a number', { _: [], concurrency: 'ten' }, /got "ten"/],
    [
      'a target that is not a URL',
      { _: [], target: '10.77.0.11' },
      /^--target takes an http\(s\) URL, got "10.77.0.11"$/,
    ],
    [
      'a Prometheus that is not http',
      { _: [], prometheus: 'ftp://10.77.0.10/' },
      /^--prometheus takes an http\(s\) URL/,
    ],
  ];
  for (const [name, argv, message] of bad) {
    test(`an error for ${name}`, () => assert.throws(() => parseOptions(argv, ROOT), { message }));
  }

  test('base URLs end in / so that paths resolve under them', () => {
    assert.equal(baseUrl('http://10.77.0.10:9090', '--prometheus'), 'http://10.77.0.10:9090/');
    assert.equal(baseUrl('http://host/prometheus?x=1', '--prometheus'), 'http://host/prometheus/');
  });
});

describe('the URL list', () => {
  const target = 'http://10.77.0.11/';

  test('paths become URLs on the target, with their method; comments and blank lines are skipped', () => {
    const urls = parseUrlList('# mix\n/\n\n/about.html\n/api/work POST\n', target, 'urls.txt');
    assert.deepEqual(
      urls.map((u) => [u.url, u.method, u.siegeLine]),
      [
        ['http://10.77.0.11/', 'GET', 'http://10.77.0.11/'],
        ['http://10.77.0.11/about.html', 'GET', 'http://10.77.0.11/about.html'],
        ['http://10.77.0.11/api/work', 'POST', 'http://10.77.0.11/api/work POST'],
      ],
    );
  });

  const bad = [
    [
      'a full URL elsewhere',
      'http://example.com/\n',
      /^urls.txt:1: "http:\/\/example.com\/" is not a path on the target \(start it with one \/\)$/,
    ],
    [
      'a network-path reference',
      '/\n//example.com/x\n',
      /^urls.txt:2: "\/\/example.com\/x" is not a path on the target/,
    ],
    ['an unknown method', '/api/work FETCH\n', /^urls.txt:1: unknown method "FETCH"$/],
    ['nothing but comments', '# nothing\n', /^the URL list urls.txt has no URLs$/],
  ];
  for (const [name, text, message] of bad) {
    test(`an error for ${name}`, () => assert.throws(() => parseUrlList(text, target, 'urls.txt'), { message }));
  }

  test('the default list has pages, a redirect, missing pages and the demo service', () => {
    const paths = readUrlList(`${ROOT}/scripts/urls.txt`, target).map((u) => new URL(u.url).pathname);
    for (const path of ['/', '/about.html', '/large.html', '/old', '/missing-page', '/api/work'])
      assert.ok(paths.includes(path), path);
  });

  test('a missing list says so', () => {
    assert.throws(() => readUrlList('/nonexistent/urls.txt', target), {
      message: /^cannot read the URL list \/nonexistent\/urls.txt: no such file$/,
    });
  });
});

describe('inventory, read through ansible/model.yml', () => {
  const inventoryDir = (files) => {
    const dir = mkdtempSync(`${tmpdir()}/inventory-`);
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(`${dir}/${name}`.replace(/\/[^/]+$/, ''), { recursive: true });
      writeFileSync(`${dir}/${name}`, text);
    }
    return dir;
  };

  test('the example inventory, in YAML and in INI: addresses, the sudo user, the shared values of role stand', () => {
    for (const file of ['hosts.yml', 'hosts.ini']) {
      const inventory = readInventory(`${ROOT}/inventory/example/${file}`);
      assert.deepEqual(
        inventory.prometheus.map((h) => `${h.name}@${h.address}`),
        ['prom1@192.0.2.10'],
        file,
      );
      assert.deepEqual(inventory.nginx[0].ssh.slice(-1), ['debian@192.0.2.21'], file);
      assert.deepEqual(inventory.nginx[0].sudo, ['sudo', '-n'], file);
      assert.equal(inventory.nginx[0].vars.stand_av_exporter_port, 8000, file);
      assert.equal(accessLogPath(inventory.nginx[0].vars), '/var/log/nginx/access.json.log', file);
    }
  });

  test('INI with group_vars/, host_vars/ and a child group: every member, each with its own values', () => {
    const dir = inventoryDir({
      'hosts.ini':
        '[prometheus]\nprom1 ansible_host=10.0.0.10\n\n[edge]\nweb3 ansible_host=fd00::23\n\n[nginx]\nweb1 ansible_host=10.0.0.21\n\n[nginx:children]\nedge\n\n[all:vars]\nansible_user=debian\nansible_become=true\n',
      'group_vars/nginx.yml':
        'stand_av_exporter_port: 9800\nansible_ssh_common_args: -o UserKnownHostsFile=/lab/known_hosts -o "ProxyCommand=ssh -W %h:%p bastion"\n',
      'host_vars/web3.yml': 'ansible_port: 2222\nstand_access_log_path: /var/log/nginx/edge.log\n',
    });
    const { nginx } = readInventory(`${dir}/hosts.ini`);
    assert.deepEqual(
      nginx.map((h) => h.name),
      ['web1', 'web3'],
    );
    const [web1, web3] = nginx;
    assert.equal(exporterLocalUrl(web1.vars), 'https://127.0.0.1:9800/metrics');
    assert.equal(accessLogPath(web3.vars), '/var/log/nginx/edge.log');
    assert.deepEqual(web3.ssh, [
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=10',
      '-p',
      '2222',
      '-o',
      'UserKnownHostsFile=/lab/known_hosts',
      '-o',
      'ProxyCommand=ssh -W %h:%p bastion',
      'debian@fd00::23',
    ]);
    assert.deepEqual(web3.sudo, ['sudo', '-n']);
  });

  test('no group nginx is an error that names it', () => {
    const dir = inventoryDir({
      'hosts.yml': 'all:\n  children:\n    prometheus:\n      hosts:\n        p: { ansible_host: 10.0.0.1 }\n',
    });
    assert.throws(() => readInventory(`${dir}/hosts.yml`), /has no hosts in group nginx$/);
  });

  test('a missing inventory says how to make one; a broken one says what ansible-inventory said', () => {
    assert.throws(() => readInventory('/nonexistent/hosts.yml'), {
      message:
        /^cannot read the inventory \/nonexistent\/hosts.yml: no such file \(is the lab up\? npx zx scripts\/lab\.mjs up\)$/,
    });
    const dir = inventoryDir({ 'hosts.yml': 'all:\n  children: [broken\n' });
    assert.throws(
      () => readInventory(`${dir}/hosts.yml`),
      /^Error: cannot read the inventory .*hosts\.yml: .*Failed to parse .*did not find expected ',' or '\]'/,
    );
  });

  test("ssh's extra arguments split as a shell would, quotes kept together", () => {
    assert.deepEqual(splitShellWords(`-o ProxyCommand="ssh -W %h:%p bastion" -o 'User Known'  -v`), [
      '-o',
      'ProxyCommand=ssh -W %h:%p bastion',
      '-o',
      'User Known',
      '-v',
    ]);
    assert.deepEqual(splitShellWords(String.raw`a\ b "c\"d" ''`), ['a b', 'c"d', '']);
    assert.throws(() => splitShellWords('-o "open'), /unbalanced " in "-o "open"/);
  });

  test('every host once, in kind order, though it be of several kinds', () => {
    const [prom1, web1, both] = [{ name: 'prom1' }, { name: 'web1' }, { name: 'vm1' }];
    const names = everyHost({ prometheus: [prom1, both], nginx: [web1], victoriametrics: [both] }).map(
      (host) => host.name,
    );
    assert.deepEqual(names, ['prom1', 'vm1', 'web1']);
  });

  test('sudo only where Ansible would become root with sudo', () => {
    assert.deepEqual(sudoPrefix({ ansible_user: 'debian', ansible_become: true }), ['sudo', '-n']);
    assert.deepEqual(sudoPrefix({ ansible_user: 'root', ansible_become: true }), []);
    assert.deepEqual(sudoPrefix({ ansible_user: 'debian' }), []);
    assert.deepEqual(sudoPrefix({ ansible_user: 'debian', ansible_become: true, ansible_become_method: 'su' }), []);
    assert.deepEqual(sshArguments('web', {}).slice(-1), ['web']);
  });

  test("av-exporter's /metrics is read over HTTPS on loopback unless it listens on one address", () => {
    assert.equal(exporterLocalUrl({ stand_av_exporter_port: 8000 }), 'https://127.0.0.1:8000/metrics');
    assert.equal(
      exporterLocalUrl({ stand_av_exporter_port: 8000, av_exporter_listen_host: '::' }),
      'https://127.0.0.1:8000/metrics',
    );
    assert.equal(
      exporterLocalUrl({ stand_av_exporter_port: 8100, av_exporter_listen_host: '10.0.0.21' }),
      'https://10.0.0.21:8100/metrics',
    );
    assert.equal(
      exporterLocalUrl({ stand_av_exporter_port: 8100, av_exporter_listen_host: 'fd00::21' }),
      'https://[fd00::21]:8100/metrics',
    );
  });

  test("the stand's URLs: nginx (plain HTTP) on every nginx host, Prometheus and VictoriaMetrics (HTTPS), at their hosts' shared ports, IPv6 in brackets", () => {
    const host = (name, address, vars) => ({ name, address, vars });
    assert.deepEqual(
      standUrls({
        nginx: [host('web1', '10.0.0.21', { stand_nginx_port: 80 })],
        prometheus: [host('prom1', '10.0.0.10', { stand_prometheus_port: 9090 })],
        victoriametrics: [],
      }),
      {
        targets: ['http://10.0.0.21/'],
        prometheus: [{ name: 'prom1', url: 'https://10.0.0.10:9090/' }],
        victoriametrics: null,
      },
    );
    assert.deepEqual(
      standUrls({
        nginx: [host('web1', 'web', { stand_nginx_port: 8080 }), host('web2', 'fd00::22', { stand_nginx_port: 80 })],
        prometheus: [
          host('prom1', 'fd00::10', { stand_prometheus_port: 9091 }),
          host('prom2', '10.0.0.11', { stand_prometheus_port: 9090 }),
        ],
        victoriametrics: [host('vm1', 'fd00::50', { stand_victoriametrics_port: 8428 })],
      }),
      {
        targets: ['http://web:8080/', 'http://[fd00::22]/'],
        prometheus: [
          { name: 'prom1', url: 'https://[fd00::10]:9091/' },
          { name: 'prom2', url: 'https://10.0.0.11:9090/' },
        ],
        victoriametrics: 'https://[fd00::50]:8428/',
      },
    );
  });
});

describe('the access log on the nginx host (the python3 reader, run here on real files)', () => {
  const line = (msec, status = 200) => `{"msec":${msec.toFixed(3)},"status":${status}}`;
  const readSince = (since, files) => {
    const dir = mkdtempSync(`${tmpdir()}/access-log-`);
    const paths = Object.entries(files).map(([name, text]) => {
      if (text !== null) writeFileSync(`${dir}/${name}`, text);
      return `${dir}/${name}`;
    });
    return execFileSync('python3', ['-', String(since), ...paths], { input: LOG_SINCE_SCRIPT, encoding: 'utf8' });
  };

  test('the lines after a moment, the rotated file first, across a rotation in the middle; missing and empty files are fine', () => {
    const rotated = [line(99), line(100), line(100.5, 404), line(101)].join('\n') + '\n';
    const current = [line(101.5, 503), 'not json, no msec', line(102)].join('\n') + '\n';
    assert.equal(
      readSince(100, { 'a.log.1': rotated, 'a.log': current, 'gone.log': null, 'empty.log': '' }),
      [line(100.5, 404), line(101), line(101.5, 503), line(102)].join('\n') + '\n',
    );
  });

  test('one file under both names (a rotation between opening them) is read once', () => {
    const dir = mkdtempSync(`${tmpdir()}/access-log-`);
    writeFileSync(`${dir}/a.log`, `${line(1)}\n${line(2)}\n`);
    linkSync(`${dir}/a.log`, `${dir}/a.log.1`);
    const out = execFileSync('python3', ['-', '0', `${dir}/a.log.1`, `${dir}/a.log`], {
      input: LOG_SINCE_SCRIPT,
      encoding: 'utf8',
    });
    assert.equal(out, `${line(1)}\n${line(2)}\n`);
  });

  test('a last line without its newline gets one', () => {
    assert.equal(readSince(0, { 'a.log': `${line(1)}\n${line(2)}` }), `${line(1)}\n${line(2)}\n`);
  });

  test('lines a little out of order at the moment are still found; the history before it is not read', () => {
    // a long history, with a stray line early on that a reader from the start would print
    const history = [line(5000, 418), ...Array.from({ length: 100_000 }, (_, i) => line(1000 + i / 100))];
    const tail = [line(2000.2), line(1999.9), line(2000.1), line(2000.05, 499), line(2001)];
    const out = readSince(2000, { 'a.log': `${[...history, ...tail].join('\n')}\n` })
      .trimEnd()
      .split('\n');
    assert.deepEqual(out, [line(2000.2), line(2000.1), line(2000.05, 499), line(2001)]);
  });

  test('nothing after the moment: nothing printed', () => {
    assert.equal(readSince(500, { 'a.log': `${line(1)}\n${line(2)}\n` }), '');
  });
});

describe('summary.md', () => {
  const results = {
    target: 'http://10.77.0.11/',
    prometheus: 'http://10.77.0.10:9090/',
    load: { duration: '60s', concurrency: 10, delay_seconds: 0.2, urls: ['http://10.77.0.11/'] },
    window: { start: 'S', end: 'E', evaluated_at: 'T', promql_from: 'F', promql_to: 'T' },
    queries: { p99: 'P99_QUERY', requests_by_status: 'STATUS_QUERY' },
    exact_query: 'RAW',
    p99_seconds: 0.1776,
    exact_p99_seconds: 0.178,
    exact_p99_sample_count: 5000,
    p99_error_seconds: -0.0004,
    p99_relative_error: -0.0024,
    p99_bound_seconds: 0.0089,
    p99_within_bound: true,
    requests_by_status: { 200: 101.7, 404: 20.34 },
    window_requests_by_status: { 200: 100, 404: 20 },
    requests_by_status_relative_error: { 200: 0.017, 404: 0.017 },
    statuses_born_in_window: [],
    exact_requests_by_status: { 200: 100, 404: 20 },
    exact_requests_total: 120,
    logged_requests_by_status: { 200: 100, 404: 20 },
    siege: {
      transactions: 119,
      failed_transactions: 0,
      successful_transactions: 99,
      availability: 100,
      elapsed_time: 60,
      transaction_rate: 2,
      response_time: 0.01,
      longest_transaction: 0.2,
    },
    siege_requests_total: 119,
    siege_accounting: {
      cut_off: { transactions: 1, failed_transactions: 0, successful_transactions: 1, closed_by_client_499: 0 },
      cut_off_total: 1,
      problems: [],
    },
    exporter_source: 'web1 (10.77.0.21), from 127.0.0.1',
    screenshots: {
      p99: { queryVisible: true, shownSeries: { '{}': 0.1776 } },
      status_codes: { queryVisible: true, shownSeries: { '{status="200"}': 101.7, '{status="404"}': 20.34 } },
    },
    not_checked: [],
    report_failures: [],
  };

  test('a section host by host when the report has them', () => {
    const perHost = {
      web1: {
        address: '10.77.0.21',
        p99_seconds: 0.18,
        exact_p99_seconds: 0.179,
        requests_by_status: { 200: 50.8, 201: 0 },
        window_requests_by_status: { 200: 50 },
        exact_requests_by_status: { 200: 50 },
        logged_requests_by_status: { 200: 50 },
      },
      web2: {
        address: '10.77.0.22',
        p99_seconds: 0.17,
        exact_p99_seconds: 0.17,
        requests_by_status: { 200: 50.8, 404: 20.3 },
        window_requests_by_status: { 200: 50, 404: 20 },
        exact_requests_by_status: { 200: 50, 404: 20 },
        logged_requests_by_status: { 200: 50, 404: 19 },
      },
    };
    const md = summaryMarkdown({
      ...results,
      targets: ['http://10.77.0.21/', 'http://10.77.0.22/'],
      per_host: perHost,
      queries_by_host: { p99: 'P99_BY_HOST', requests_by_status: 'STATUS_BY_HOST' },
    });
    assert.match(md, /against http:\/\/10\.77\.0\.21\/, http:\/\/10\.77\.0\.22\/ \(/);
    assert.match(md, /^\| web1 \| 0\.1800 s \| 0\.1790 s \| \+0\.56 % \|$/m);
    assert.match(md, /^\| web2 \| 404 \| 20\.3 \| 20 \| 20 \| 19 \|$/m);
    assert.doesNotMatch(md, /\| web1 \| 201 \|/, 'a preset series nobody got has a row');
    assert.match(md, /\*\*A host's counter delta differs from the run's lines in its log\*\*/);
    assert.doesNotMatch(summaryMarkdown(results), /Host by host/);
  });

  test('both answers beside the exact ones, the error, the accounting and the images', () => {
    const md = summaryMarkdown(results);
    assert.match(md, /\| PromQL \(`histogram_quantile` over av-exporter's buckets\) \| \*\*0\.1776 s\*\* \|/);
    assert.match(md, /\| error \| -0\.40 ms, -0\.24 %; bound max\(5 %, 1 ms\) = 8\.90 ms: within \|/);
    assert.match(md, /^\| 200 \| 101\.7 \| 100 \| \+1\.70 % \| 100 \|$/m);
    assert.match(md, /here ×1\.0170 for every status alike/);
    assert.match(md, /Every request of the run is accounted for\. The counters' delta/);
    assert.match(md, /exactly the 120 lines nginx logged with this run's User-Agent/);
    assert.match(md, /1 such here: all accounted for\./);
    assert.match(md, /!\[p99 in Prometheus\]\(p99\.png\)/);
    assert.match(md, /!\[requests per status code in Prometheus\]\(status-codes\.png\)/);
    assert.match(md, /\[exporter-metrics\.txt\]\(exporter-metrics\.txt\)/);
  });

  test('what is not accounted for is said in bold', () => {
    const md = summaryMarkdown({
      ...results,
      logged_requests_by_status: { 200: 99 },
      siege_accounting: { ...results.siege_accounting, problems: ['14 requests reached nginx'] },
    });
    assert.match(md, /\*\*not\*\* the 99 lines/);
    assert.match(md, /\*\*Not every request of the run is accounted for\.\*\*/);
    assert.match(md, /\*\*Not accounted for:\*\* 14 requests reached nginx\./);
  });

  test('a failed screenshot and unwritten metrics are said at the top and in their place', () => {
    const failures = [
      'the screenshot p99: Prometheus serves no graph page to take a screenshot of: tried http://x/graph (HTTP 404)',
      'exporter-metrics.txt: no answer',
    ];
    const md = summaryMarkdown({
      ...results,
      screenshots: { ...results.screenshots, p99: { error: 'Prometheus serves no graph page' } },
      report_failures: failures,
    });
    assert.match(
      md,
      /^\*\*Not all of this report could be made:\*\*\n- the screenshot p99: Prometheus serves no graph page/m,
    );
    assert.match(md, /\*\*The screenshot p99\.png failed:\*\* Prometheus serves no graph page/);
    assert.match(md, /!\[requests per status code in Prometheus\]\(status-codes\.png\)/);
    assert.match(md, /\*\*exporter-metrics\.txt could not be written\*\*/);
    assert.doesNotMatch(md, /!\[p99 in Prometheus\]/);
  });

  test('without an inventory: no crash, and what could not be checked is named', () => {
    const why =
      "no inventory: nginx's log and av-exporter are read over SSH from the inventory's nginx hosts (--inventory FILE)";
    const md = summaryMarkdown({
      ...results,
      exact_p99_seconds: null,
      exact_p99_sample_count: null,
      p99_error_seconds: null,
      p99_relative_error: null,
      p99_bound_seconds: null,
      p99_within_bound: null,
      logged_requests_by_status: null,
      exporter_source: null,
      not_checked: [
        { what: "the exact p99, and the run's lines in nginx's log", why },
        { what: "exporter-metrics.txt, av-exporter's metrics", why },
      ],
    });
    assert.match(md, /^\*\*Not checked:\*\*\n- the exact p99, and the run's lines in nginx's log: no inventory/m);
    assert.match(md, /\| exact \| not checked: nginx's log could not be read \|/);
    assert.match(md, /Every request of the run is accounted for\./);
    assert.match(md, /nginx's log could not be read to compare it/);
    assert.match(md, /exporter-metrics\.txt was not written/);
    assert.doesNotMatch(md, /undefined|NaN|\*\*outside\*\*/);
  });
});

describe('several Prometheus shards, merged', () => {
  // two shards' buckets (cumulative, by le), as `sum by (le) (rate(..._bucket[5m]))` answers on each
  const shardA = { 0.005: 10, 0.01: 40, 0.05: 90, 0.1: 99, 0.5: 100, '+Inf': 100 };
  const shardB = { 0.005: 0, 0.01: 5, 0.05: 20, 0.1: 60, 0.5: 190, '+Inf': 200 };

  test('counts add up status by status; a status on one shard only is kept', () => {
    assert.deepEqual(addUp([{ 200: 5, 404: 1 }, { 200: 7, 500: 2 }, {}]), { 200: 12, 404: 1, 500: 2 });
  });

  test('histogram_quantile over the summed buckets equals what promtool computes over both shards together', async () => {
    const cases = [
      ['the p99 of both', 0.99, addUp([shardA, shardB])],
      ['the median of both', 0.5, addUp([shardA, shardB])],
      ['the p99 of one, in its first bucket', 0.05, shardA],
      ['a rank in the +Inf bucket answers the highest finite bound', 0.999, { 0.1: 1, 1: 998, '+Inf': 1000 }],
    ];
    const dir = mkdtempSync(`${tmpdir()}/quantile-`);
    const series = (name, buckets) =>
      Object.entries(buckets).map(([le, n]) => ({ series: `${name}{le="${le}"}`, values: String(n) }));
    const tests = cases.map(([, q, buckets], i) => {
      const expected = histogramQuantile(q, buckets);
      assert.ok(Number.isFinite(expected), `case ${i}: ${expected}`);
      return {
        interval: '1m',
        input_series: series(`h${i}_bucket`, buckets),
        promql_expr_test: [
          {
            expr: `histogram_quantile(${q}, sum by (le) (h${i}_bucket))`,
            eval_time: '0m',
            exp_samples: [{ labels: '{}', value: expected }],
          },
        ],
      };
    });
    writeFileSync(`${dir}/rules.yml`, 'groups: []\n');
    writeFileSync(`${dir}/test.yml`, JSON.stringify({ rule_files: ['rules.yml'], tests }));
    assert.match(execFileSync('promtool', ['test', 'rules', `${dir}/test.yml`], { encoding: 'utf8' }), /SUCCESS/);
  });

  test('histogram_quantile has no answer where Prometheus answers NaN', () => {
    assert.equal(histogramQuantile(0.99, { 0.1: 0, '+Inf': 0 }), null);
    assert.equal(histogramQuantile(0.99, { 0.1: 5, 1: 9 }), null); // no +Inf bucket
    assert.equal(histogramQuantile(0.99, { '+Inf': 9 }), null);
  });
});
