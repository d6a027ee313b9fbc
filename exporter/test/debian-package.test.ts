// The Debian package (exporter/package-deb.mjs, `npm run package`), made from the built exporter with
// dpkg-deb and checked with Debian's own tools: its fields and files, lintian, and the exporter it installs
// (unpacked into a throw-away root) running.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { EXPORTER, testWorkspace } from './support/real-programs.js';

const PACKAGER = new URL('../package-deb.mjs', import.meta.url).pathname;
const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const DEBIAN_VERSION = `${version}-1`;

describe('the Debian package', () => {
  const workspace = testWorkspace('av-deb-');
  let deb: string;

  /** Packages the built exporter (not rebuilt: other tests may be running it) into `dir`. */
  function makePackage(dir: string): string {
    execFileSync(process.execPath, [PACKAGER, '--output-dir', dir], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SOURCE_DATE_EPOCH: '1790000000' } });
    return join(dir, `av-exporter_${DEBIAN_VERSION}_all.deb`);
  }

  before(() => {
    execFileSync('mkdir', [join(workspace.path(), 'first'), join(workspace.path(), 'second')]);
    deb = makePackage(join(workspace.path(), 'first'));
  });

  test('its fields: av-exporter, package.json\'s version, all architectures, Node.js 18 or newer', () => {
    const field = (name: string) => execFileSync('dpkg-deb', ['--field', deb, name], { encoding: 'utf8' }).trim();
    assert.equal(field('Package'), 'av-exporter');
    assert.equal(field('Version'), DEBIAN_VERSION);
    assert.equal(field('Architecture'), 'all');
    assert.match(field('Depends'), /^nodejs \(>= 18\)(, |$)/);
    const info = execFileSync('dpkg-deb', ['--info', deb], { encoding: 'utf8' });
    for (const script of ['postinst', 'prerm', 'postrm']) assert.match(info, new RegExp(`\\*\\s+${script}\\s+#!/bin/sh`), info);
    assert.equal(execFileSync('dpkg-deb', ['--info', deb, 'conffiles'], { encoding: 'utf8' }), '/etc/av-exporter/config.yml\n');
  });

  test('its files: the one built file, the unit, the config, the copyright and changelog, all root\'s', () => {
    const listing = execFileSync('dpkg-deb', ['--contents', deb], { encoding: 'utf8' });
    const files = new Map(listing.trim().split('\n').map((line) => {
      const [mode = '', owner = '', , , , path = ''] = line.split(/\s+/);
      return [path.replace(/^\.\//, '/'), { mode, owner }] as const;
    }));
    const expected: Array<[string, string]> = [
      ['/usr/share/av-exporter/av-exporter.js', '-rwxr-xr-x'],
      ['/lib/systemd/system/av-exporter.service', '-rw-r--r--'],
      ['/etc/av-exporter/config.yml', '-rw-r--r--'],
      ['/usr/share/doc/av-exporter/copyright', '-rw-r--r--'],
      ['/usr/share/doc/av-exporter/changelog.Debian.gz', '-rw-r--r--'],
    ];
    for (const [path, mode] of expected) assert.deepEqual(files.get(path), { mode, owner: 'root/root' }, `${path} in:\n${listing}`);
    for (const [path, { owner }] of files) assert.equal(owner, 'root/root', path);
    assert.equal([...files.keys()].filter((path) => /node_modules/.test(path)).length, 0, 'nothing but the bundle');
  });

  test('unpacked into a throw-away root, the installed exporter runs: --version, and its default config checks', async () => {
    const root = join(workspace.path(), 'root');
    execFileSync('dpkg', ['-x', deb, root]);
    const installed = join(root, 'usr/share/av-exporter/av-exporter.js');
    assert.equal(createHash('sha256').update(await readFile(installed)).digest('hex'), createHash('sha256').update(await readFile(EXPORTER)).digest('hex'));
    const versionRun = spawnSync('node', [installed, '--version'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(versionRun.status, 0, versionRun.stderr);
    assert.equal(versionRun.stdout, `av-exporter ${version}\n`);
    const checked = spawnSync('node', [installed, '--check-config', '--config', join(root, 'etc/av-exporter/config.yml')], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(checked.status, 0, checked.stderr);
    const unit = await readFile(join(root, 'lib/systemd/system/av-exporter.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/bin\/node \/usr\/share\/av-exporter\/av-exporter\.js --config \/etc\/av-exporter\/config\.yml$/m);
    assert.match(unit, /^Environment=NODE_ENV=production$/m);
    const verified = spawnSync('systemd-analyze', ['verify', '--root', root, '/lib/systemd/system/av-exporter.service'], { encoding: 'utf8', timeout: 30_000 });
    if (verified.error === undefined) assert.doesNotMatch(verified.stderr, /Unknown key|Invalid|Failed to parse/i, verified.stderr);
    for (const script of ['postinst', 'prerm', 'postrm']) {
      const control = join(workspace.path(), 'control');
      execFileSync('dpkg-deb', ['--control', deb, control]);
      const syntax = spawnSync('sh', ['-n', join(control, script)], { encoding: 'utf8' });
      assert.equal(syntax.status, 0, `${script}: ${syntax.stderr}`);
    }
  });

  test('the same build packaged twice is the same file, byte for byte (a host that has it is not reinstalled)', async () => {
    const again = makePackage(join(workspace.path(), 'second'));
    assert.deepEqual(await readFile(again), await readFile(deb));
  });

  test('lintian finds nothing to fix', () => {
    const linted = spawnSync('lintian', ['--pedantic', '--suppress-tags', 'initial-upload-closes-no-bugs', deb], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(linted.error, undefined, 'lintian is installed (scripts/prereqs.sh)');
    const findings = linted.stdout.split('\n').filter((line) => /^[EWIPX]: /.test(line));
    assert.deepEqual(findings, [], linted.stdout + linted.stderr);
  });
});
