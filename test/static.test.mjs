// Static checks of the Ansible side, with the real tools and no hosts: lint, syntax, the rendered configs
// (promtool, nginx -t, nft -c), the rule unit tests, the roles' variable documentation, the inventories.
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { EXAMPLE_INVENTORY, ROOT, inventoryList, renderConfigs, tool } from './support/ansible.mjs';

// A call of one of the collection's filters (plugins/filter): `| av.stand.stand_kinds(...)`, or named in
// `map('av.stand.stand_is_address')`.
const FILTER_CALL = /(\|\s*|\bmap\(\s*')av\.stand\.stand_[a-z0-9_]+/g;
const STAND_DEFAULTS = 'roles/stand/defaults/main.yml';

describe('Ansible, statically', () => {
  let rendered;

  before(async () => {
    rendered = await renderConfigs(EXAMPLE_INVENTORY);
  });
  after(() => rm(rendered, { recursive: true, force: true }));

  test('site.yml passes the syntax check, without a warning', async () => {
    const output = await tool('ansible-playbook', ['--syntax-check', '-i', EXAMPLE_INVENTORY, 'site.yml']);
    assert.match(output, /playbook: site\.yml/);
    assert.doesNotMatch(output, /\[WARNING\]/);
  });

  test('ansible-lint passes with the production profile', async () => {
    assert.match(await tool('ansible-lint', ['--nocolor']), /Passed with production profile/);
  });

  test('the generated prometheus.yml passes promtool check config', async () => {
    assert.match(
      await tool('promtool', ['check', 'config', '--syntax-only', join(rendered, 'prom1/prometheus.yml')]),
      /SUCCESS/,
    );
  });

  // role alert_rules' sets, rendered for prom1 with the defaults (all three, whichever the host loads)
  const ruleSets = ['heartbeat', 'stand', 'service_levels'];

  test('every rule set passes promtool check rules', async () => {
    for (const set of ruleSets) {
      assert.match(
        await tool('promtool', ['check', 'rules', join(rendered, `prom1/${set}.rules.yml`)]),
        /SUCCESS: \d+ rules found/,
        set,
      );
    }
  });

  test('every recording and alert rule passes its promtool unit tests, and each is named by a test', async () => {
    for (const set of ruleSets) {
      const testFile = join(rendered, `prom1/${set}.rules.test.yml`);
      await copyFile(join(ROOT, `roles/alert_rules/files/tests/${set}.rules.test.yml`), testFile);
      assert.match(await tool('promtool', ['test', 'rules', testFile]), /SUCCESS/, set);
      const tests = parseYaml(await readFile(testFile, 'utf8')).tests;
      // a PromQL test may wrap the record (`round(job:…, 0.0001)`): a name counts when the expression holds it whole
      const exprs = tests.flatMap((t) => (t.promql_expr_test ?? []).map((e) => e.expr));
      const alerts = new Set(tests.flatMap((t) => (t.alert_rule_test ?? []).map((a) => a.alertname)));
      const named = (name) =>
        exprs.some((expr) =>
          new RegExp(`(?<![\\w:])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w:])`).test(expr),
        );
      const rules = parseYaml(await readFile(join(rendered, `prom1/${set}.rules.yml`), 'utf8')).groups.flatMap(
        (g) => g.rules,
      );
      assert.deepEqual(
        rules.filter((r) => (r.alert ? !alerts.has(r.alert) : !named(r.record))).map((r) => r.record ?? r.alert),
        [],
        `${set}: rules without a unit test`,
      );
      // every alert is tested firing and not firing (but the Watchdog, which always fires)
      const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
      const oneSided = rules
        .filter((r) => r.alert && r.alert !== 'Watchdog')
        .filter(
          (r) =>
            !(
              cases.some((c) => c.alertname === r.alert && c.exp_alerts?.length) &&
              cases.some((c) => c.alertname === r.alert && !c.exp_alerts?.length)
            ),
        );
      assert.deepEqual(
        oneSided.map((r) => r.alert),
        [],
        `${set}: alerts not tested both firing and not firing`,
      );
    }
  });

  test('the generated nginx site passes nginx -t', async () => {
    await tool('sh', ['roles/nginx/files/nginx-check-site', join(rendered, 'web1/av-stand.conf')]);
  });

  test("every host's web config passes promtool check web-config, with its own certificate, for the stand's user", async () => {
    for (const host of ['prom1', 'web1']) {
      const file = join(rendered, host, 'web-config.yml');
      assert.match(await tool('promtool', ['check', 'web-config', file]), /SUCCESS/);
      const config = parseYaml(await readFile(file, 'utf8'));
      assert.deepEqual(Object.keys(config.basic_auth_users), ['admin']);
      assert.match(config.basic_auth_users.admin, /^\$2[aby]\$10\$/);
      assert.match(config.tls_server_config.cert_file, new RegExp(`/hosts/${host}\\.crt$`));
    }
  });

  test("the certificates verify against the stand's CA and name their host, its address and loopback", async () => {
    const secrets = join(rendered, 'secrets');
    for (const [host, address] of [
      ['prom1', '192.0.2.10'],
      ['web1', '192.0.2.21'],
    ]) {
      const cert = join(secrets, 'hosts', `${host}.crt`);
      assert.match(await tool('openssl', ['verify', '-CAfile', join(secrets, 'ca.crt'), cert]), /: OK/);
      const names = await tool('openssl', ['x509', '-in', cert, '-noout', '-ext', 'subjectAltName']);
      assert.match(
        names,
        new RegExp(
          `DNS:${host}, IP Address:${address.replace(/\./g, '\\.')}, DNS:localhost, IP Address:127\\.0\\.0\\.1`,
        ),
      );
    }
  });

  test("the nginx exporter's TLS front (Debian 12's exporter has no web config) passes nginx -t", async () => {
    // the front names the host's certificate where the host keeps it; here, the control machine's copies
    const front = (await readFile(join(rendered, 'web1/av-nginx-exporter-tls.conf'), 'utf8'))
      .replace('/etc/av-stand/tls/host.crt', join(rendered, 'secrets/hosts/web1.crt'))
      .replace('/etc/av-stand/tls/host.key', join(rendered, 'secrets/hosts/web1.key'))
      .replace(/auth_basic_user_file \S+;/, `auth_basic_user_file ${join(rendered, 'secrets/admin.bcrypt')};`);
    await writeFile(join(rendered, 'web1/front-for-check.conf'), front);
    await tool('sh', ['roles/nginx/files/nginx-check-site', join(rendered, 'web1/front-for-check.conf')]);
  });

  test("Alertmanager's config passes amtool check-config, and sends every alert to the stand's receiver", async () => {
    const file = join(rendered, 'prom1/alertmanager.yml');
    assert.match(await tool('amtool', ['check-config', file]), /SUCCESS/);
    const config = parseYaml(await readFile(file, 'utf8'));
    assert.deepEqual(config.receivers[0].webhook_configs, [
      { url: 'http://127.0.0.1:9095/alerts', send_resolved: true },
    ]);
    // a cluster of one here (the example has one Prometheus host): gossip on its own address, over mutual TLS, no peers
    const args = await readFile(join(rendered, 'prom1/prometheus-alertmanager.default'), 'utf8');
    assert.match(
      args,
      /--web\.config\.file=\/etc\/av-stand\/web-config\.yml --cluster\.listen-address=192\.0\.2\.10:9094 --cluster\.advertise-address=192\.0\.2\.10:9094 --cluster\.tls-config=\S+ --cluster\.peer-timeout=3s"/,
    );
    assert.doesNotMatch(args, /--cluster\.peer=/);
    const clusterTls = parseYaml(await readFile(join(rendered, 'prom1/alertmanager-cluster-tls.yml'), 'utf8'));
    assert.equal(clusterTls.tls_server_config.client_auth_type, 'RequireAndVerifyClientCert');
    assert.ok(
      clusterTls.tls_client_config.cert_file && clusterTls.tls_client_config.ca_file,
      'the cluster client proves itself with a certificate',
    );
  });

  test('the generated nftables tables pass nft -c, and touch no table but their own', async () => {
    for (const host of ['prom1', 'web1']) {
      const file = join(rendered, host, 'av-stand.nft');
      await tool('nft', ['-c', '-f', file]);
      const text = await readFile(file, 'utf8');
      assert.doesNotMatch(
        text,
        /flush ruleset|hook forward|policy drop/,
        `${host}: the table must only guard the stand's ports`,
      );
      assert.deepEqual(
        [...new Set(text.match(/^(?:table|delete table) \S+ \S+/gm).map((line) => line.split(' ').at(-1)))],
        ['av_stand'],
        `${host}: tables named`,
      );
    }
  });

  test("each role documents exactly its defaults in meta/argument_specs.yml, all with the role's prefix", async () => {
    for (const role of await readdir(join(ROOT, 'roles'))) {
      const defaults = parseYaml(await readFile(join(ROOT, 'roles', role, 'defaults/main.yml'), 'utf8')) ?? {};
      const spec = parseYaml(await readFile(join(ROOT, 'roles', role, 'meta/argument_specs.yml'), 'utf8'));
      const options = spec.argument_specs.main.options ?? {};
      assert.deepEqual(
        Object.keys(options).sort(),
        Object.keys(defaults).sort(),
        `roles/${role}: argument_specs vs defaults`,
      );
      for (const [name, option] of Object.entries(options)) {
        assert.ok(name.startsWith(`${role}_`), `roles/${role}: ${name} lacks the prefix ${role}_`);
        assert.ok(option.description, `roles/${role}: ${name} has no description`);
        assert.deepEqual(option.default, defaults[name], `roles/${role}: ${name} documents another default`);
      }
    }
  });

  test("each role's README names every one of its defaults and every shared stand_* value the role reads", async () => {
    const problems = [];
    for (const role of (await readdir(join(ROOT, 'roles'))).sort()) {
      const dir = join(ROOT, 'roles', role);
      const readme = await readFile(join(dir, 'README.md'), 'utf8');
      const named = (name) => new RegExp(`(?<![A-Za-z0-9_])${name}(?![A-Za-z0-9_])`).test(readme);
      const defaults = parseYaml(await readFile(join(dir, 'defaults/main.yml'), 'utf8')) ?? {};
      for (const name of Object.keys(defaults))
        if (!named(name)) problems.push(`roles/${role}/README.md: default ${name} not named`);
      const read = new Set();
      for (const sub of ['tasks', 'templates', 'vars', 'defaults', 'handlers']) {
        const files = await readdir(join(dir, sub), { recursive: true }).catch((error) =>
          error.code === 'ENOENT' ? [] : Promise.reject(error),
        );
        for (const file of files.filter((f) => /\.(ya?ml|j2)$/.test(f))) {
          // a filter of the collection (`| av.stand.stand_kinds`), not a shared value
          const text = (await readFile(join(dir, sub, file), 'utf8')).replace(FILTER_CALL, '');
          for (const [name] of text.matchAll(/\bstand_[a-z0-9_]+\b(?!\.py)/g)) read.add(name);
        }
      }
      for (const name of [...read].sort())
        if (!named(name)) problems.push(`roles/${role}/README.md: reads ${name}, not named`);
    }
    assert.deepEqual(problems, []);
  });

  test('every shared stand_* value the roles read is defined once, in role stand, and each is used', async () => {
    const shared = Object.keys(parseYaml(await readFile(join(ROOT, STAND_DEFAULTS), 'utf8')));
    const inDir = async (dir) => (await readdir(join(ROOT, dir), { recursive: true })).map((file) => join(dir, file));
    const roleFiles = [...(await inDir('roles')), ...(await inDir('ansible')), 'site.yml'].filter(
      (f) => /\.(ya?ml|j2)$/.test(f) && f !== STAND_DEFAULTS,
    );
    const used = new Set();
    for (const file of roleFiles) {
      const text = await readFile(join(ROOT, file), 'utf8');
      // a filter of plugins/filter/stand_catalogue.py (after `|`, or named in map()), not a value
      for (const [name] of text.replace(FILTER_CALL, '').matchAll(/\bstand_[a-z0-9_]+\b(?!\.py)/g)) used.add(name);
      assert.doesNotMatch(
        text,
        /^stand_[a-z0-9_]+:/m,
        `${file} defines a stand_* value; they live in ${STAND_DEFAULTS}`,
      );
    }
    // values built from others in role stand itself (stand_groups, stand_services) count as reads; the
    // inventory's own additions (stand_group_names, stand_extra_services) are read there with a default
    const sharedText = await readFile(join(ROOT, STAND_DEFAULTS), 'utf8');
    for (const [, value] of sharedText.matchAll(/^stand_[a-z0-9_]+: (".*")$/gm))
      for (const [name] of value.matchAll(/\bstand_[a-z0-9_]+\b(?!\.py)/g)) used.add(name);
    const fromInventory = [...sharedText.matchAll(/\b(stand_[a-z0-9_]+) \| default\(/g)].map((m) => m[1]);
    assert.deepEqual(
      [...used].filter((name) => !shared.includes(name) && !fromInventory.includes(name)).sort(),
      [],
      'read by the roles but not defined',
    );
    assert.deepEqual(shared.filter((name) => !used.has(name)).sort(), [], 'defined but read by no role');
  });

  // A role used alone falls back to its own default where role stand's shared value is missing: that default is
  // the stand's, so a role alone and in the stand listen at the same ports and read the same paths. Only the
  // web config differs on purpose: alone, a role serves plain HTTP unless given one.
  test("each role's fallback for a shared stand_* value is role stand's own default", async () => {
    const shared = parseYaml(await readFile(join(ROOT, STAND_DEFAULTS), 'utf8'));
    const differsAlone = ['stand_web_config_file'];
    const problems = [];
    let checked = 0;
    for (const role of await readdir(join(ROOT, 'roles'))) {
      if (role === 'stand') continue;
      for (const file of ['defaults/main.yml', 'vars/main.yml'].map((f) => `roles/${role}/${f}`)) {
        const text = await readFile(join(ROOT, file), 'utf8').catch(() => '');
        for (const [, name, literal] of text.matchAll(
          /(?<![\w.])(stand_[a-z0-9_]+) \| default\(((?:'[^']*'|\[[^\]]*\]|[0-9]+))\)/g,
        )) {
          if (differsAlone.includes(name)) continue;
          checked += 1;
          const fallback = parseYaml(literal);
          if (JSON.stringify(fallback) !== JSON.stringify(shared[name]))
            problems.push(`${file}: ${name} | default(${literal}), role stand has ${JSON.stringify(shared[name])}`);
        }
      }
    }
    assert.ok(checked >= 15, `only ${checked} fallbacks found: has the pattern changed?`);
    assert.deepEqual(problems, []);
  });

  test('the example inventory reads the same in YAML and INI, and no host is named like a group', async () => {
    const [yaml, ini] = await Promise.all(
      ['inventory/example/hosts.yml', 'inventory/example/hosts.ini'].map(inventoryList),
    );
    const groups = (list) => Object.fromEntries(['prometheus', 'nginx'].map((g) => [g, list[g].hosts]));
    assert.deepEqual(groups(ini), groups(yaml));
    const asText = (hostvars) =>
      JSON.parse(JSON.stringify(hostvars, (key, value) => (typeof value === 'boolean' ? String(value) : value)));
    assert.deepEqual(asText(ini._meta.hostvars), asText(yaml._meta.hostvars)); // INI's values are strings: "true" for true
    const groupNames = Object.keys(yaml).filter((key) => key !== '_meta');
    assert.deepEqual(
      Object.keys(yaml._meta.hostvars).filter((host) => groupNames.includes(host)),
      [],
    );
  });
});
