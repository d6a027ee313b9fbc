// npm 11.16 and later list, at the end of every `npm ci`, each dependency whose install script package.json's
// allowScripts does not cover (the README's first command printed two warnings for esbuild); npm 12 skips such
// scripts. Every package in the lockfile with an install script must therefore be named there, by its name
// or by name@version.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './support/ansible.mjs';

const readJson = async (file) => JSON.parse(await readFile(join(ROOT, file), 'utf8'));

test("every install script in the lockfile is covered by package.json's allowScripts", async () => {
  const [manifest, lock] = await Promise.all([readJson('package.json'), readJson('package-lock.json')]);
  const allowed = manifest.allowScripts ?? {};
  const uncovered = Object.entries(lock.packages)
    .filter(([location, meta]) => location !== '' && meta.hasInstallScript)
    .map(([location, meta]) => ({ name: location.replace(/^.*node_modules\//, ''), version: meta.version }))
    .filter(({ name, version }) => allowed[name] !== true && allowed[`${name}@${version}`] !== true)
    .map(({ name, version }) => `${name}@${version}`);
  assert.deepEqual(uncovered, [], 'approve them (npm install-scripts approve <name>) or drop the dependency');
});
