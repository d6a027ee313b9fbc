// The README's first command on Debian 12 runs the distribution's Node.js 18 (prereqs.sh installs it where
// there is none): every npm package the lockfile installs must accept that version. playwright-core 1.62
// asked for Node.js 20 and stopped load.mjs there, which a machine with a newer Node.js never saw.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './support/ansible.mjs';

const DEBIAN_12_NODE = '18.20.4'; // bookworm's nodejs (18.20.4+dfsg-1~deb12u2)

const parse = (version) => version.split('.').map((part) => Number.parseInt(part, 10) || 0);
const compare = (a, b) => {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
};

/** Whether version meets one comparator of an npm range: >=, >, <=, <, =, ^, ~, or a bare (x-)version. */
function meets(version, comparator) {
  const [, op = '', wanted] = /^(>=|<=|>|<|=|\^|~)?v?(.+)$/.exec(comparator) ?? [];
  if (wanted === undefined || /^[x*]$/i.test(wanted)) return true;
  const parts = wanted.split('.').filter((part) => !/^[x*]$/i.test(part));
  const target = parse(parts.join('.'));
  const order = compare(version, target);
  if (op === '>=') return order >= 0;
  if (op === '>') return order > 0;
  if (op === '<=') return order <= 0;
  if (op === '<') return order < 0;
  // ^ keeps the first non-zero part, ~ the minor (or the major when only it is given), a bare x-range its given parts
  const fixed =
    op === '^'
      ? Math.max(1, target.findIndex((n) => n !== 0) + 1)
      : op === '~'
        ? Math.min(2, parts.length)
        : parts.length;
  return order >= 0 && version.slice(0, fixed).every((n, i) => n === target[i]);
}

/** Whether version satisfies an npm engines range ("^18.18.0 || >=20", ">=14 <22", ...). */
export function satisfies(version, range) {
  const v = parse(version);
  const joined = range.replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1'); // ">= 0.6" is ">=0.6"
  return joined.split('||').some((set) =>
    set
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .every((c) => meets(v, c)),
  );
}

test('the range check reads the forms the lockfile uses', () => {
  assert.equal(satisfies('18.20.4', '>=18'), true);
  assert.equal(satisfies('18.20.4', '>=20'), false);
  assert.equal(satisfies('18.20.4', '^18.18.0 || ^20.9.0 || >=21.1.0'), true);
  assert.equal(satisfies('18.17.0', '^18.18.0 || ^20.9.0 || >=21.1.0'), false);
  assert.equal(satisfies('18.20.4', '^16 || ^18 || >=20'), true);
  assert.equal(satisfies('18.20.4', '^12.22.0 || ^14.17.0 || >=16.0.0'), true);
  assert.equal(satisfies('18.20.4', '~18.19.0'), false);
  assert.equal(satisfies('18.20.4', '>=14 <18'), false);
  assert.equal(satisfies('18.20.4', '*'), true);
  assert.equal(satisfies('18.20.4', '>= 0.6'), true);
});

test("every npm package the lockfile installs accepts Debian 12's Node.js", async () => {
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8'));
  const refusing = Object.entries(lock.packages)
    .filter(([, meta]) => typeof meta.engines?.node === 'string' && !satisfies(DEBIAN_12_NODE, meta.engines.node))
    .map(([name, meta]) => `${name.replace(/^node_modules\//, '')} (engines.node ${meta.engines.node})`);
  assert.deepEqual(refusing, [], `these need a newer Node.js than Debian 12's ${DEBIAN_12_NODE}`);
});
