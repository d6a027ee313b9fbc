// Bundles the exporter into ONE file that runs with a plain `node` 18 and no node_modules beside it:
// that single file is what the av_exporter role copies to the nginx hosts.
import { build } from 'esbuild';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const outdir = fileURLToPath(new URL('./dist/', import.meta.url));
const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: [fileURLToPath(new URL('./src/main.ts', import.meta.url))],
  outfile: `${outdir}av-exporter.js`,
  bundle: true,
  platform: 'node',
  target: 'node18',
  // CommonJS, because express and prom-client are CommonJS and the file runs outside any package
  format: 'cjs',
  banner: { js: '#!/usr/bin/env node' },
  legalComments: 'none',
  logLevel: 'warning',
  // bcrypt-workers.ts reads import.meta.url only when run from source; the bundle uses __filename
  logOverride: { 'empty-import-meta': 'silent' },
  // version.ts: the project's version, so the bundle needs no package.json beside it
  define: { AV_EXPORTER_BUILD_VERSION: JSON.stringify(version) },
});
// The repository's package.json says "type": "module"; this keeps the .js file CommonJS inside dist/ too.
await writeFile(`${outdir}package.json`, '{ "type": "commonjs" }\n');
console.log(`built ${outdir}av-exporter.js (version ${version})`);
