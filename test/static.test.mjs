// Static checks of the Ansible side, with the real tools and no hosts: lint, syntax, the rendered
// configs (promtool, nginx -t), the rule unit tests, and the roles' variable documentation.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLE_INVENTORY = 'inventory/example/hosts.yml';

/** Runs a tool from the repository root; on failure the error carries its whole output. */
async function tool(command, args) {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { cwd: ROOT, maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: '1', ANSIBLE_NOCOLOR: '1' } });
    return `${stdout}${stderr}`;
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} failed (exit ${error.code}):\n${error.stdout}${error.stderr}`);
  }
}

describe('Ansible, statically', () => {
  let rendered;

  before(async () => {
    rendered = await mkdtemp(join(tmpdir(), 'av-rendered-'));
    await tool('ansible-playbook', ['-i', EXAMPLE_INVENTORY, 'ansible/render-configs.yml',
      '-e', `render_dir=${rendered}`, '-e', `nginx_access_log_path=${rendered}/access.json.log`]);
  });
  after(() => rm(rendered, { recursive: true, force: true }));

  test('site.yml passes the syntax check', async () => {
    assert.match(await tool('ansible-playbook', ['--syntax-check', '-i', EXAMPLE_INVENTORY, 'site.yml']), /playbook: site\.yml/);
  });

  test('ansible-lint passes with the production profile', async () => {
    assert.match(await tool('ansible-lint', ['--nocolor']), /Passed with production profile/);
  });

  test('the generated prometheus.yml passes promtool check config', async () => {
    assert.match(await tool('promtool', ['check', 'config', '--syntax-only', join(rendered, 'prometheus.yml')]), /SUCCESS/);
  });

  test('the rules pass promtool check rules', async () => {
    assert.match(await tool('promtool', ['check', 'rules', join(rendered, 'av-stand.rules.yml')]), /SUCCESS: 7 rules found/);
  });

  test('every recording and alert rule passes its promtool unit tests', async () => {
    const testFile = join(rendered, 'av-stand.rules.test.yml');
    await copyFile(join(ROOT, 'roles/prometheus/files/tests/av-stand.rules.test.yml'), testFile);
    const output = await tool('promtool', ['test', 'rules', testFile]);
    assert.match(output, /SUCCESS/);
    const tests = parseYaml(await readFile(testFile, 'utf8')).tests;
    const covered = new Set(tests.flatMap((t) => [...(t.promql_expr_test ?? []).map((e) => e.expr), ...(t.alert_rule_test ?? []).map((a) => a.alertname)]));
    const rules = parseYaml(await readFile(join(rendered, 'av-stand.rules.yml'), 'utf8')).groups.flatMap((g) => g.rules);
    const untested = rules.map((r) => r.record ?? r.alert).filter((name) => !covered.has(name));
    assert.deepEqual(untested, [], 'rules without a unit test');
  });

  test('the generated nginx site passes nginx -t', async () => {
    await tool('sh', ['roles/nginx/files/nginx-check-site', join(rendered, 'av-stand.conf')]);
  });

  test("each role documents exactly its defaults in meta/argument_specs.yml, all with the role's prefix", async () => {
    for (const role of await readdir(join(ROOT, 'roles'))) {
      const defaults = parseYaml(await readFile(join(ROOT, 'roles', role, 'defaults/main.yml'), 'utf8')) ?? {};
      const spec = parseYaml(await readFile(join(ROOT, 'roles', role, 'meta/argument_specs.yml'), 'utf8'));
      const options = spec.argument_specs.main.options ?? {};
      assert.deepEqual(Object.keys(options).sort(), Object.keys(defaults).sort(), `roles/${role}: argument_specs vs defaults`);
      for (const [name, option] of Object.entries(options)) {
        assert.ok(name.startsWith(`${role}_`), `roles/${role}: ${name} lacks the prefix ${role}_`);
        assert.ok(option.description, `roles/${role}: ${name} has no description`);
        assert.deepEqual(option.default, defaults[name], `roles/${role}: ${name} documents another default`);
      }
    }
  });
});
