#!/usr/bin/env node
// setup.sh's npm step: `npm ci`, unless node_modules/ already holds exactly what package-lock.json names, as
// after an earlier setup.sh in this checkout (npm ci would delete it and install every package again). npm's
// own record of the tree it installed, node_modules/.package-lock.json, must list every locked package as
// locked (only optional ones, for other platforms, may be missing) and nothing else, each one on disk.
// Plain Node.js, no package of its own: it runs before node_modules/ exists.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The `packages` of a lockfile, or null when it is missing or unreadable.
 * @param {string} file
 * @returns {Record<string, Record<string, unknown>> | null}
 */
function lockedPackages(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8')).packages ?? null;
  } catch {
    return null;
  }
}

/**
 * Whether `dir`'s node_modules/ is what its package-lock.json names.
 * @param {string} dir
 */
export function nodeModulesMatchLock(dir) {
  const locked = lockedPackages(join(dir, 'package-lock.json'));
  const installed = lockedPackages(join(dir, 'node_modules', '.package-lock.json'));
  if (!locked || !installed) return false;
  const everyLockedAsLocked = Object.entries(locked)
    .filter(([where]) => where !== '') // the project itself
    .every(([where, meta]) =>
      where in installed ? JSON.stringify(meta) === JSON.stringify(installed[where]) : meta.optional === true,
    );
  return (
    everyLockedAsLocked &&
    Object.keys(installed).every((where) => where in locked && existsSync(join(dir, where, 'package.json')))
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  if (nodeModulesMatchLock(root)) {
    console.log('setup: node_modules/ already matches package-lock.json, npm ci skipped');
  } else {
    console.log('setup: npm ci');
    const { status } = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
    process.exit(status ?? 1);
  }
}
