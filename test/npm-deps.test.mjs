// setup.sh's npm step (scripts/npm-deps.mjs) skips `npm ci` only when node_modules/ is what package-lock.json
// names: every case that must reinstall is checked on a made-up tree, and this checkout's own tree (installed
// by setup.sh before the tests) matches, so a change in npm's record of its tree shows here.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nodeModulesMatchLock } from '../scripts/npm-deps.mjs';
import { ROOT } from './support/ansible.mjs';

const express = { version: '5.1.0', resolved: 'https://registry.npmjs.org/express/-/express-5.1.0.tgz' };
const otherPlatform = { version: '0.25.12', optional: true, os: ['aix'] };

/** A project whose lockfile names `locked` and whose node_modules holds `installed` (each with a package.json). */
function project(locked, installed, { onDisk = Object.keys(installed) } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'av-npm-deps-'));
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify({ lockfileVersion: 3, packages: { '': {}, ...locked } }),
  );
  mkdirSync(join(dir, 'node_modules'));
  writeFileSync(
    join(dir, 'node_modules', '.package-lock.json'),
    JSON.stringify({ lockfileVersion: 3, packages: installed }),
  );
  for (const where of onDisk) {
    mkdirSync(join(dir, where), { recursive: true });
    writeFileSync(join(dir, where, 'package.json'), '{}');
  }
  return dir;
}

test('node_modules/ matches the lockfile only when every package is there as locked', (t) => {
  const cases = [
    {
      name: 'as locked',
      expected: true,
      locked: { 'node_modules/express': express },
      installed: { 'node_modules/express': express },
    },
    {
      name: 'an optional package of another platform missing',
      expected: true,
      locked: { 'node_modules/express': express, 'node_modules/@esbuild/aix-ppc64': otherPlatform },
      installed: { 'node_modules/express': express },
    },
    {
      name: 'another version installed',
      expected: false,
      locked: { 'node_modules/express': express },
      installed: { 'node_modules/express': { ...express, version: '5.0.0' } },
    },
    {
      name: 'a locked package missing',
      expected: false,
      locked: { 'node_modules/express': express, 'node_modules/yaml': { version: '2.8.0' } },
      installed: { 'node_modules/express': express },
    },
    {
      name: 'a package the lockfile does not name',
      expected: false,
      locked: { 'node_modules/express': express },
      installed: { 'node_modules/express': express, 'node_modules/left-pad': { version: '1.3.0' } },
    },
  ];
  for (const { name, expected, locked, installed } of cases) {
    const dir = project(locked, installed);
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.equal(nodeModulesMatchLock(dir), expected, name);
  }
  const deleted = project({ 'node_modules/express': express }, { 'node_modules/express': express }, { onDisk: [] });
  t.after(() => rmSync(deleted, { recursive: true, force: true }));
  assert.equal(nodeModulesMatchLock(deleted), false, 'a package npm recorded, deleted from disk since');
  const fresh = mkdtempSync(join(tmpdir(), 'av-npm-deps-'));
  t.after(() => rmSync(fresh, { recursive: true, force: true }));
  writeFileSync(join(fresh, 'package-lock.json'), JSON.stringify({ packages: { '': {} } }));
  assert.equal(nodeModulesMatchLock(fresh), false, 'no node_modules/ yet');
});

test("this checkout's node_modules/, installed by setup.sh, matches its lockfile", () => {
  assert.equal(nodeModulesMatchLock(ROOT), true);
});
