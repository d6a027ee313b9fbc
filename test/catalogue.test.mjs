// The catalogue of services (role stand) is the one place that says what runs where: an inventory
// with other group names renders the same stand, and a service added in a test inventory reaches the scrape
// config, the firewall and the e2e lists with no other file changed. Its checks, and the user's own
// targets' checks, refuse mistakes by name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { readInventory } from '../scripts/lib/inventory.mjs';
import { expectedTargets, httpsEndpoints, standHosts } from './e2e/stand-checks.mjs';
import { EXAMPLE_INVENTORY, ROOT, renderConfigs, tool } from './support/ansible.mjs';

const HOSTS = {
  prom1: { ansible_host: '192.0.2.10' },
  web1: { ansible_host: '192.0.2.21' },
  web2: { ansible_host: '192.0.2.22' },
};
const inventoryYaml = ({ prometheus = 'prometheus', nginx = 'nginx', vars = {} } = {}) =>
  stringifyYaml({
    all: {
      vars: { ansible_user: 'debian', ansible_become: true, ...vars },
      children: {
        [prometheus]: { hosts: { prom1: HOSTS.prom1 } },
        [nginx]: { hosts: { web1: HOSTS.web1, web2: HOSTS.web2 } },
      },
    },
  });

/** A filter of plugins/filter/, called from Python as Ansible would; resolves with its answer. */
async function pythonFilter(file, name, args) {
  const script = `import importlib.util, json, sys\nspec = importlib.util.spec_from_file_location("m", ${JSON.stringify(join(ROOT, file))})\nm = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\nprint(json.dumps(getattr(m, ${JSON.stringify(name)})(*json.loads(sys.argv[1]))))`;
  const { stdout } = await promisify(execFile)('python3', ['-c', script, JSON.stringify(args)]);
  return JSON.parse(stdout);
}

describe('the catalogue of services', () => {
  let dir;
  const rendered = {};
  const files = {};

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'av-catalogue-'));
    files.standard = join(dir, 'standard.yml');
    files.renamed = join(dir, 'renamed.yml');
    files.extra = join(dir, 'extra.yml');
    await writeFile(files.standard, inventoryYaml());
    await writeFile(
      files.renamed,
      inventoryYaml({
        prometheus: 'monitoring',
        nginx: 'web',
        vars: { stand_group_names: { prometheus: 'monitoring', nginx: 'web' } },
      }),
    );
    await writeFile(
      files.extra,
      inventoryYaml({
        vars: {
          app_exporter_port: 9400,
          stand_extra_services: [
            {
              name: 'app_exporter',
              kinds: ['nginx'],
              unit: 'app-exporter',
              port: 'app_exporter_port',
              scrape: { job: 'app' },
              tls: 'web_config',
              clients: 'scrapers',
            },
          ],
        },
      }),
    );
    for (const [name, file] of Object.entries(files)) rendered[name] = await renderConfigs(file);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    for (const path of Object.values(rendered)) await rm(path, { recursive: true, force: true });
  });

  const read = (name, host, file) => readFile(join(rendered[name], host, file), 'utf8');

  test('an inventory whose groups are called monitoring and web renders the same stand', async () => {
    for (const [host, file] of [
      ['prom1', 'prometheus.yml'],
      ['prom1', 'av-stand.nft'],
      ['web1', 'av-stand.nft'],
      ['web2', 'av-stand.conf'],
      ['prom1', 'alertmanager.yml'],
    ]) {
      assert.equal(await read('renamed', host, file), await read('standard', host, file), `${host} ${file}`);
    }
    const renamed = readInventory(files.renamed);
    assert.deepEqual(
      [renamed.prometheus, renamed.nginx].map((hosts) => hosts.map((h) => h.name)),
      [['prom1'], ['web1', 'web2']],
    );
    assert.deepEqual(expectedTargets(renamed), expectedTargets(readInventory(files.standard)));
  });

  test("site.yml puts the renamed groups into the stand's own groups, and every play finds its hosts", async () => {
    const output = await tool('ansible-playbook', ['-i', files.renamed, 'site.yml', '--list-hosts']);
    assert.doesNotMatch(output, /\[WARNING\]/);
    // the plays' hosts are known only once the first play has run; --list-hosts shows the first play's
    assert.match(output, /play #1 \(all\): The stand's groups[^\n]*\n\s+pattern: \['all'\]\n\s+hosts \(3\):/);
  });

  test('a service added in the inventory reaches the scrape config, the firewall and the e2e lists, with no other file changed', async () => {
    const config = parseYaml(await read('extra', 'prom1', 'prometheus.yml'));
    const app = config.scrape_configs.find((job) => job.job_name === 'app');
    assert.deepEqual(
      app.static_configs.map((c) => [c.labels.instance, c.targets[0]]),
      [
        ['web1', '192.0.2.21:9400'],
        ['web2', '192.0.2.22:9400'],
      ],
    );
    assert.equal(app.scheme, 'https');
    const tls = config.scrape_configs.find((job) => job.job_name === 'blackbox_tls');
    assert.ok(
      tls.static_configs.some((c) => c.labels.service === 'app_exporter' && c.targets[0] === '192.0.2.22:9400'),
      'its certificate is probed',
    );
    const webFirewall = await read('extra', 'web1', 'av-stand.nft');
    assert.match(
      webFirewall,
      /# exporters: the scrapers only\n\s+tcp dport \{ [^}]*\b9400\b[^}]* \} ip saddr \{ 192\.0\.2\.10 \} accept/,
    );
    assert.doesNotMatch(await read('extra', 'prom1', 'av-stand.nft'), /\b9400\b/, 'not guarded where it does not run');
    assert.doesNotMatch(await read('standard', 'web1', 'av-stand.nft'), /\b9400\b/);
    const hosts = readInventory(files.extra);
    assert.ok(expectedTargets(hosts).includes('app/web2'));
    assert.ok(httpsEndpoints(hosts).some((e) => e.name === 'web1 app_exporter' && e.port === 9400));
    assert.match(
      await tool('promtool', ['check', 'config', '--syntax-only', join(rendered.extra, 'prom1/prometheus.yml')]),
      /SUCCESS/,
    );
  });

  test("the catalogue's check names each mistake", async () => {
    const groups = { prometheus: 'prometheus', nginx: 'nginx' };
    const good = {
      name: 'x',
      kinds: ['nginx'],
      unit: 'x',
      port: 'x_port',
      scrape: { job: 'x' },
      tls: 'web_config',
      clients: 'scrapers',
    };
    const cases = [
      [[good], []],
      [
        [{ ...good, kinds: ['web'] }],
        ["service 'x': kinds must list kinds of host among ['prometheus', 'nginx', 'victoriametrics'], got ['web']"],
      ],
      [
        [{ ...good, tls: 'yes' }],
        ["service 'x': tls must be one of ['web_config', 'own_flags', 'mutual', 'none'], got 'yes'"],
      ],
      [
        [{ ...good, clients: 'everyone' }],
        [
          "service 'x': clients must be one of ['scrapers', 'allow_list', 'peers', 'anyone', 'loopback'], got 'everyone'",
        ],
      ],
      [[good, { ...good, name: 'y' }], ["service 'y': the scrape job 'x' is used twice"]],
      [
        [good, good],
        ["service 'x': the name is used twice", "service 'x': the scrape job 'x' is used twice"],
      ],
      [
        [{ ...good, listen: 'x_listen' }],
        [
          "service 'x': port and listen both given; a service has one or the other",
          "service 'x': a listen address is for loopback services (clients: loopback)",
        ],
      ],
      [[{ ...good, unit: undefined }], ["service 'x': no systemd unit"]],
    ];
    for (const [services, errors] of cases) {
      assert.deepEqual(
        await pythonFilter('plugins/filter/stand_catalogue.py', 'stand_catalogue_errors', [
          JSON.parse(JSON.stringify(services)),
          groups,
        ]),
        errors,
      );
    }
    const stand = parseYaml(await readFile(join(ROOT, 'roles/stand/defaults/main.yml'), 'utf8'));
    assert.deepEqual(
      await pythonFilter('plugins/filter/stand_catalogue.py', 'stand_catalogue_errors', [
        stand.stand_catalogue,
        stand.stand_default_groups,
      ]),
      [],
      "the stand's own catalogue is sound",
    );
  });

  test("the replicas' check names the numbers: a whole number, 1 or more, that divides the Prometheus hosts", async () => {
    const four = ['prom1', 'prom2', 'prom3', 'prom4'];
    const cases = [
      [1, four, []],
      [2, four, []],
      ['4', four, []],
      [1, [], []],
      [
        3,
        four,
        [
          'stand_prometheus_replicas is 3, which does not divide the 4 Prometheus hosts (prom1, prom2, prom3, prom4): each shard is 3 consecutive hosts of them',
        ],
      ],
      [0, four, ['stand_prometheus_replicas must be a whole number, 1 or more (got 0)']],
      [-2, four, ['stand_prometheus_replicas must be a whole number, 1 or more (got -2)']],
      [1.5, four, ['stand_prometheus_replicas must be a whole number, 1 or more (got 1.5)']],
      ['two', four, ["stand_prometheus_replicas must be a whole number, 1 or more (got 'two')"]],
      [true, four, ['stand_prometheus_replicas must be a whole number, 1 or more (got True)']],
    ];
    for (const [replicas, hosts, errors] of cases)
      assert.deepEqual(
        await pythonFilter('plugins/filter/stand_model.py', 'stand_replica_errors', [replicas, hosts]),
        errors,
        JSON.stringify(replicas),
      );
  });

  test("site.yml's one apt transaction per host asks for exactly what each role's own install would", async () => {
    const kinds = ['prometheus', 'nginx', 'victoriametrics'];
    const roles = await pythonFilter('plugins/filter/stand_model.py', 'stand_host_roles', [kinds]);
    const withPackages = await pythonFilter('plugins/filter/stand_model.py', 'stand_package_roles', [roles]);
    const packagesOf = async (role, file) => {
      const path = join(ROOT, 'roles', role, 'tasks', file);
      const tasks = parseYaml(await readFile(path, 'utf8').catch(() => 'null')) ?? [];
      const imports = tasks.filter((task) =>
        /tasks\/apt-(install|collect)\.yml$/.test(task['ansible.builtin.import_tasks'] ?? ''),
      );
      return imports.map((task) => task.vars._stand_apt_packages);
    };
    for (const role of roles) {
      const installs = await packagesOf(role, 'install.yml');
      const collected = await packagesOf(role, 'packages.yml');
      if (withPackages.includes(role)) {
        assert.equal(installs.length, 1, `${role}: install.yml imports tasks/apt-install.yml once`);
        assert.deepEqual(collected, installs, `${role}: packages.yml adds what install.yml installs`);
      } else {
        assert.deepEqual([installs, collected], [[], []], `${role}: installs no package, so site.yml leaves it out`);
      }
    }
    assert.ok(withPackages.length >= 8, `${withPackages}`);
  });

  test('host:port is written with an IPv6 address in brackets, and the host alone without a port', async () => {
    const cases = [
      [['192.0.2.10', 9090], '192.0.2.10:9090'],
      [['2001:db8::22', 9100], '[2001:db8::22]:9100'],
      [['::', '8428'], '[::]:8428'],
      [['prom1.example.org', 9093], 'prom1.example.org:9093'],
      [['2001:db8::50'], '[2001:db8::50]'],
      [['192.0.2.50', null], '192.0.2.50'],
      [[''], ''],
      [['', 9090], ':9090'],
    ];
    for (const [args, expected] of cases) {
      assert.equal(
        await pythonFilter('plugins/filter/stand_catalogue.py', 'stand_host_port', args),
        expected,
        JSON.stringify(args),
      );
    }
  });

  test('an address is told from a name: IPv4 and IPv6, with or without a prefix (a certificate names it IP:, the cluster advertises it)', async () => {
    const cases = [
      ['192.0.2.10', true],
      ['2001:db8::10', true],
      ['::ffff:192.0.2.10', true],
      ['fe80::1', true],
      ['10.77.0.0/24', true],
      ['2001:db8::/64', true],
      ['prom1', false],
      ['prom1.example.org', false],
      ['', false],
      ['db8-host', false],
    ];
    for (const [text, expected] of cases) {
      assert.equal(
        await pythonFilter('plugins/filter/stand_catalogue.py', 'stand_is_address', [text]),
        expected,
        String(text),
      );
    }
  });
});

describe('the resolved stand the scripts and the e2e checks read (ansible/model.yml)', () => {
  // 2 Prometheus shards (one at an IPv6 address), 3 nginx hosts and VictoriaMetrics, in groups of other names,
  // with a value for a group and one for a host
  const SHARDED = {
    all: {
      vars: {
        ansible_user: 'debian',
        ansible_become: true,
        stand_group_names: { prometheus: 'monitoring', nginx: 'web', victoriametrics: 'global' },
        stand_av_exporter_port: 9800,
      },
      children: {
        monitoring: { hosts: { prom1: { ansible_host: '192.0.2.10' }, prom2: { ansible_host: '2001:db8::11' } } },
        web: {
          hosts: {
            web1: { ansible_host: '192.0.2.21', stand_node_exporter_port: 9200 },
            web2: { ansible_host: '192.0.2.22' },
            web3: { ansible_host: '192.0.2.23' },
          },
        },
        global: { hosts: { vm1: { ansible_host: '192.0.2.50' } } },
      },
    },
  };
  // what scripts/lib/catalogue.mjs and expectedTargets worked out in JavaScript for that inventory, before the
  // model was read instead: the same answers are expected of it
  const BEFORE = {
    hosts: {
      prom1: [
        '192.0.2.10',
        'prometheus',
        'prometheus:9090 alertmanager:9093 alertmanager_cluster:9094 alert_receiver@127.0.0.1:9095 blackbox_exporter:9115 node_exporter:9100 firewall',
      ],
      prom2: [
        '2001:db8::11',
        'prometheus',
        'prometheus:9090 alertmanager:9093 alertmanager_cluster:9094 alert_receiver@127.0.0.1:9095 blackbox_exporter:9115 node_exporter:9100 firewall',
      ],
      web1: [
        '192.0.2.21',
        'nginx',
        'node_exporter:9200 nginx:80 nginx_exporter:9113 av_exporter:9800 av_demo@127.0.0.1:8001 firewall',
      ],
      web2: [
        '192.0.2.22',
        'nginx',
        'node_exporter:9100 nginx:80 nginx_exporter:9113 av_exporter:9800 av_demo@127.0.0.1:8001 firewall',
      ],
      web3: [
        '192.0.2.23',
        'nginx',
        'node_exporter:9100 nginx:80 nginx_exporter:9113 av_exporter:9800 av_demo@127.0.0.1:8001 firewall',
      ],
      vm1: ['192.0.2.50', 'victoriametrics', 'node_exporter:9100 victoriametrics:8428 vmalert@127.0.0.1:8880 firewall'],
    },
    targets: [
      'alertmanager/prom1',
      'alertmanager/prom1',
      'alertmanager/prom2',
      'alertmanager/prom2',
      'av_exporter/web1',
      'av_exporter/web2',
      'av_exporter/web3',
      'blackbox/prom1',
      'blackbox/prom2',
      'blackbox_http/web1/nginx',
      'blackbox_http/web2/nginx',
      'blackbox_http/web3/nginx',
      'blackbox_tls/prom1/alertmanager',
      'blackbox_tls/prom1/blackbox_exporter',
      'blackbox_tls/prom1/node_exporter',
      'blackbox_tls/prom1/prometheus',
      'blackbox_tls/prom2/alertmanager',
      'blackbox_tls/prom2/blackbox_exporter',
      'blackbox_tls/prom2/node_exporter',
      'blackbox_tls/prom2/prometheus',
      'blackbox_tls/vm1/node_exporter',
      'blackbox_tls/vm1/victoriametrics',
      'blackbox_tls/web1/av_exporter',
      'blackbox_tls/web1/nginx_exporter',
      'blackbox_tls/web1/node_exporter',
      'blackbox_tls/web2/av_exporter',
      'blackbox_tls/web2/nginx_exporter',
      'blackbox_tls/web2/node_exporter',
      'blackbox_tls/web3/av_exporter',
      'blackbox_tls/web3/nginx_exporter',
      'blackbox_tls/web3/node_exporter',
      'nginx/web1',
      'nginx/web2',
      'nginx/web3',
      'node/prom1',
      'node/prom2',
      'node/vm1',
      'node/web1',
      'node/web2',
      'node/web3',
      'prometheus/prom1',
      'prometheus/prom1',
      'prometheus/prom2',
      'prometheus/prom2',
      'victoriametrics/vm1',
    ],
    httpsEndpoints: 19,
  };
  let dir;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'av-model-'));
    await writeFile(join(dir, 'sharded.yml'), stringifyYaml(SHARDED));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** The model command's own output for an inventory. */
  const modelOf = async (inventory) => {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
    const started = Date.now();
    await tool('ansible-playbook', ['-i', inventory, 'ansible/model.yml', '-e', JSON.stringify({ model_file: file })]);
    console.log(`# ansible/model.yml for ${inventory}: ${Date.now() - started} ms`);
    return JSON.parse(await readFile(file, 'utf8'));
  };
  const view = (host) => ({
    name: host.name,
    address: host.address,
    kinds: host.kinds,
    roles: host.roles,
    services: host.services,
    vars: host.vars,
  });

  test('the scripts and the e2e checks get exactly what the model command prints, for the example inventory and a sharded one', async () => {
    for (const inventory of [join(ROOT, EXAMPLE_INVENTORY), join(dir, 'sharded.yml')]) {
      const model = await modelOf(inventory);
      const read = readInventory(inventory);
      assert.deepEqual(read.model, model, inventory);
      const hosts = await standHosts(inventory);
      for (const answer of [read, hosts]) {
        assert.deepEqual(
          ['prometheus', 'nginx', 'victoriametrics'].map((kind) => answer[kind].map((host) => host.name)),
          ['prometheus', 'nginx', 'victoriametrics'].map((kind) => model.kinds[kind]),
        );
        assert.deepEqual(
          [...answer.prometheus, ...answer.nginx, ...answer.victoriametrics].map(view),
          [...model.kinds.prometheus, ...model.kinds.nginx, ...model.kinds.victoriametrics].map((name) =>
            view(model.hosts[name]),
          ),
        );
        assert.deepEqual(expectedTargets(answer), Object.values(model.targets).flat().sort());
      }
    }
  });

  test('a sharded inventory with renamed groups: the same hosts, services, ports and targets as the JavaScript worked out before', async () => {
    const hosts = await standHosts(join(dir, 'sharded.yml'));
    const every = [...hosts.prometheus, ...hosts.nginx, ...hosts.victoriametrics];
    const services = (host) =>
      host.services
        .map((s) => `${s.name}${s.port !== undefined ? `:${s.port}` : ''}${s.listen ? `@${s.listen}` : ''}`)
        .join(' ');
    assert.deepEqual(
      Object.fromEntries(every.map((host) => [host.name, [host.address, host.kinds.join('+'), services(host)]])),
      BEFORE.hosts,
    );
    assert.deepEqual(expectedTargets(hosts), BEFORE.targets);
    assert.equal(httpsEndpoints(hosts).length, BEFORE.httpsEndpoints);
    // each shard its own host's services, every Prometheus and Alertmanager, and a share of the others'
    assert.deepEqual(Object.keys(hosts.targets), ['prom1', 'prom2']);
    for (const shard of ['prom1', 'prom2']) {
      assert.ok(
        ['prometheus/prom1', 'prometheus/prom2', `node/${shard}`, `blackbox/${shard}`].every((t) =>
          hosts.targets[shard].includes(t),
        ),
        shard,
      );
    }
    for (const web of ['web1', 'web2', 'web3'])
      assert.equal(Object.values(hosts.targets).filter((targets) => targets.includes(`nginx/${web}`)).length, 1, web);
  });

  test('the model is computed once per inventory, and again when the inventory changes', async () => {
    const file = join(dir, 'changing.yml');
    await writeFile(file, stringifyYaml(SHARDED));
    const first = readInventory(file);
    assert.equal(readInventory(file).model, first.model, 'the same answer, not another run');
    const fewer = structuredClone(SHARDED);
    delete fewer.all.children.web.hosts.web3;
    await writeFile(file, stringifyYaml(fewer));
    assert.deepEqual(
      readInventory(file).nginx.map((host) => host.name),
      ['web1', 'web2'],
    );
  });
});

describe('your own targets (prometheus_targets)', () => {
  const STAND_JOBS = ['prometheus', 'node', 'nginx', 'av_exporter', 'blackbox_http'];
  const errors = (targets, settings = {}, scrapeConfigs = []) =>
    pythonFilter('plugins/filter/prometheus_targets.py', 'prometheus_user_job_errors', [
      targets,
      settings,
      scrapeConfigs,
      STAND_JOBS,
    ]);

  test('the preflight names the job of each mistake', async () => {
    assert.deepEqual(
      await errors({ myapp: [{ targets: ['app1:9200', '[2001:db8::1]:9200'], labels: { env: 'prod' } }] }),
      [],
    );
    // a job of targets may be named like a stand job (it gets a scrape config of its own); a whole scrape config may not
    assert.deepEqual(await errors({ node: [{ targets: ['a:1'] }] }), []);
    assert.deepEqual(await errors({}, {}, [{ job_name: 'node' }]), [
      "job 'node': the stand has a scrape config of that name; name yours otherwise, or give its targets in prometheus_targets",
    ]);
    assert.deepEqual(await errors({ myapp: [{ targets: ['app1'] }] }), [
      "job 'myapp': target 'app1' is not host:port (a port is needed; an IPv6 address goes in [ ])",
    ]);
    assert.deepEqual(await errors({ myapp: [{ targets: ['2001:db8::1:9200'] }] }), [
      "job 'myapp': target '2001:db8::1:9200' is not host:port (a port is needed; an IPv6 address goes in [ ])",
    ]);
    assert.deepEqual(await errors({ myapp: [{ targets: ['app1:99999'] }] }), [
      "job 'myapp': target 'app1:99999' has no valid port",
    ]);
    assert.deepEqual(await errors({ myapp: [{ labels: {} }] }), [
      "job 'myapp': an entry without a list of targets: {'labels': {}}",
    ]);
    assert.deepEqual(await errors({ myapp: [{ targets: ['a:1'] }] }, {}, [{ job_name: 'myapp' }]), [
      "job 'myapp': named more than once in prometheus_targets and prometheus_scrape_configs",
      "job 'myapp': named more than once in prometheus_targets and prometheus_scrape_configs",
    ]);
    assert.deepEqual(await errors({}, { other: { scheme: 'https' } }), [
      "job 'other': prometheus_target_settings names it, prometheus_targets does not",
    ]);
    assert.deepEqual(await errors({ myapp: [{ targets: ['a:1'] }] }, { myapp: { password: 'x' } }), [
      "job 'myapp': prometheus_target_settings takes only ['basic_auth', 'honor_labels', 'metrics_path', 'params', 'scheme', 'scrape_interval', 'scrape_timeout', 'tls_config']",
    ]);
  });

  test('each job is a file_sd job, HTTPS where its settings say, dealt by hashmod with several shards, and promtool accepts it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'av-targets-'));
    try {
      const file = join(dir, 'hosts.yml');
      await writeFile(
        file,
        stringifyYaml({
          all: {
            vars: { ansible_user: 'debian' },
            children: {
              prometheus: { hosts: { prom1: HOSTS.prom1, prom2: { ansible_host: '192.0.2.11' } } },
              nginx: { hosts: { web1: HOSTS.web1 } },
            },
          },
        }),
      );
      // as extra vars: the render harness loads the roles' defaults with include_vars, which an inventory's vars would lose to
      const out = await renderConfigs(file, {
        prometheus_targets: {
          myapp: [{ targets: ['app1.example.org:9200'], labels: { env: 'prod' } }],
          plain: [{ targets: ['10.0.0.5:9100'] }],
        },
        prometheus_target_settings: { myapp: { scheme: 'https', tls_config: { ca_file: '/etc/av-stand/tls/ca.crt' } } },
        prometheus_scrape_configs: [
          { job_name: 'pushgateway', honor_labels: true, static_configs: [{ targets: ['push:9091'] }] },
        ],
      });
      try {
        const config = parseYaml(await readFile(join(out, 'prom2/prometheus.yml'), 'utf8'));
        const jobs = config.scrape_configs.map((job) => job.job_name);
        assert.deepEqual(jobs.slice(-3), ['myapp', 'plain', 'pushgateway'], "yours come after the stand's");
        const myapp = config.scrape_configs.find((job) => job.job_name === 'myapp');
        assert.deepEqual(myapp.file_sd_configs, [{ files: ['/etc/prometheus/file_sd/myapp.yml'] }]);
        assert.equal(myapp.scheme, 'https');
        assert.equal(
          config.scrape_configs.find((job) => job.job_name === 'plain').scheme,
          undefined,
          'plain HTTP by default',
        );
        for (const name of ['myapp', 'plain', 'pushgateway']) {
          const relabel = config.scrape_configs.find((job) => job.job_name === name).relabel_configs;
          assert.deepEqual(
            relabel.map((r) => r.action ?? 'replace'),
            ['hashmod', 'replace', 'keep'],
            `${name} is dealt`,
          );
          assert.deepEqual(relabel[0].source_labels, ['__address__']);
          assert.equal(relabel[2].regex, '1');
        }
        await writeFile(
          join(out, 'prom2/prometheus.yml'),
          (await readFile(join(out, 'prom2/prometheus.yml'), 'utf8')).replaceAll('/etc/prometheus/file_sd/', `${out}/`),
        );
        assert.match(
          await tool('promtool', ['check', 'config', '--syntax-only', join(out, 'prom2/prometheus.yml')]),
          /SUCCESS/,
        );
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
