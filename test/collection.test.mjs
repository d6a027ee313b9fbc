// The repository as the Ansible collection av.stand, the way a team takes it into its own Ansible: the tarball
// `ansible-galaxy collection build` makes, installed into a collections path outside the checkout, used from a
// directory that has no ansible.cfg of ours. Every role documents its arguments to ansible-doc, every role
// README's example playbook passes the syntax check against the installed collection, and the stand's own
// playbook is reachable as av.stand.site.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './support/ansible.mjs';
import { examplePlaybook } from './support/readme.mjs';

/** Runs an Ansible tool in `cwd` with only the installed collection to go by (no ansible.cfg of the checkout's). */
async function outside(cwd, collections, command, args) {
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...process.env, ANSIBLE_COLLECTIONS_PATH: collections, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' };
  delete env.ANSIBLE_CONFIG;
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { cwd, env, maxBuffer: 16 << 20 });
    return `${stdout}${stderr}`;
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} failed (exit ${error.code}):\n${error.stdout}${error.stderr}`);
  }
}

describe('the collection av.stand, built and installed outside the checkout', () => {
  let work;
  let collections;
  let team;
  let roles;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'av-collection-'));
    collections = join(work, 'collections');
    team = join(work, 'team');
    await mkdir(team);
    const built = await outside(work, collections, 'ansible-galaxy', [
      'collection',
      'build',
      ROOT,
      '--output-path',
      work,
    ]);
    const tarball = /Created collection for av\.stand at (\S+)/.exec(built)?.[1];
    assert.ok(tarball, built);
    await outside(work, collections, 'ansible-galaxy', ['collection', 'install', tarball, '-p', collections]);
    roles = (await readdir(join(ROOT, 'roles'))).sort();
  });
  after(() => rm(work, { recursive: true, force: true }));

  test("galaxy.yml's version is package.json's, and the license is the repository's", async () => {
    const galaxy = parseYaml(await readFile(join(ROOT, 'galaxy.yml'), 'utf8'));
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
    assert.equal(galaxy.version, pkg.version);
    assert.deepEqual(galaxy.license, [pkg.license]);
    assert.match(await readFile(join(ROOT, 'LICENSE'), 'utf8'), new RegExp(`^${pkg.license} License`));
    const manifest = JSON.parse(
      await readFile(join(collections, 'ansible_collections/av/stand/MANIFEST.json'), 'utf8'),
    );
    assert.equal(manifest.collection_info.version, pkg.version);
  });

  test('the installed collection holds every role, the filters and the playbook, and nothing of the lab', async () => {
    const installed = join(collections, 'ansible_collections/av/stand');
    assert.deepEqual((await readdir(join(installed, 'roles'))).sort(), roles);
    const filters = (dir) => readdir(dir).then((files) => files.filter((file) => file.endsWith('.py')).sort());
    assert.deepEqual(await filters(join(installed, 'plugins/filter')), await filters(join(ROOT, 'plugins/filter')));
    for (const kept of [
      'playbooks/site.yml',
      'site.yml',
      'tasks/services-up.yml',
      'docs/runbooks.md',
      'LICENSE',
      'CHANGELOG.md',
    ]) {
      await readFile(join(installed, kept)); // throws when it is missing
    }
    for (const left of ['node_modules', 'scripts', 'test', 'collections', '.git']) {
      await assert.rejects(readdir(join(installed, left)), { code: 'ENOENT' }, `${left} is in the collection`);
    }
  });

  test('ansible-doc shows every role with each of its arguments', async () => {
    const listed = await outside(team, collections, 'ansible-doc', ['-t', 'role', '-l', 'av.stand']);
    for (const role of roles)
      assert.match(listed, new RegExp(`^av\\.stand\\.${role}\\s`, 'm'), `ansible-doc -l does not list ${role}`);
    for (const role of roles) {
      const doc = await outside(team, collections, 'ansible-doc', ['-t', 'role', `av.stand.${role}`]);
      const spec = parseYaml(await readFile(join(ROOT, 'roles', role, 'meta/argument_specs.yml'), 'utf8'));
      for (const option of Object.keys(spec.argument_specs.main.options ?? {}))
        assert.match(doc, new RegExp(`^- ${option}$`, 'm'), `${role}: ${option}`);
    }
  });

  test("every role README's example playbook passes the syntax check against the installed collection", async () => {
    const inventory = join(team, 'hosts.yml');
    await writeFile(
      inventory,
      'all:\n  children:\n    prometheus: { hosts: { prom1: {} } }\n    nginx: { hosts: { web1: {} } }\n' +
        '    victoriametrics: { hosts: { vm1: {} } }\n    monitored: { hosts: { web1: {} } }\n    frontends: { hosts: { web1: {} } }\n',
    );
    const problems = [];
    for (const role of roles) {
      const playbook = examplePlaybook(await readFile(join(ROOT, 'roles', role, 'README.md'), 'utf8'));
      if (!playbook) {
        problems.push(`roles/${role}/README.md: no example playbook`);
        continue;
      }
      const file = join(team, `${role}.yml`);
      await writeFile(file, playbook);
      await outside(team, collections, 'ansible-playbook', ['--syntax-check', '-i', inventory, file]).catch((error) =>
        problems.push(`roles/${role}/README.md: ${error.message}`),
      );
    }
    assert.deepEqual(problems, []);
  });

  test("the stand's playbook is the collection's av.stand.site", async () => {
    const inventory = join(team, 'stand.yml');
    await writeFile(
      inventory,
      'all:\n  children:\n    prometheus: { hosts: { prom1: {} } }\n    nginx: { hosts: { web1: {} } }\n',
    );
    const output = await outside(team, collections, 'ansible-playbook', [
      '--syntax-check',
      '-i',
      inventory,
      'av.stand.site',
    ]);
    assert.match(output, /playbook: \S+\/ansible_collections\/av\/stand\/playbooks\/site\.yml/);
    // Ansible says this of every playbook run from inside a collection, whatever it holds; nothing else is allowed
    const warnings = output.split('\n').filter((line) => /\[WARNING\]/.test(line));
    assert.deepEqual(warnings, ['[WARNING]: running playbook inside collection av.stand'], output);
  });
});
