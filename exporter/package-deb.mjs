// npm run package: the built exporter as a Debian package, exporter/dist/av-exporter_<version>-1_all.deb,
// made with Debian's own dpkg-deb (no debhelper): the one bundled file (express, prom-client and the rest
// are inside it), a systemd unit, a default config kept as a conffile, the copyright and changelog.
// Byte for byte the same when nothing changed (SOURCE_DATE_EPOCH, or the last commit's time), so a host
// that has it is not reinstalled.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const exporterDir = fileURLToPath(new URL('.', import.meta.url));
const debianDir = join(exporterDir, 'debian');
const bundle = join(exporterDir, 'dist', 'av-exporter.js');
const { version } = JSON.parse(readFileSync(join(exporterDir, '..', 'package.json'), 'utf8'));
const MAINTAINER = 'the av-stand authors <av-stand@users.noreply.github.com>';
// package.json's version, and the packaging's own revision: bump it for a change to the packaging alone
const debianVersion = `${version}-1`;
// `--output-dir DIR`: elsewhere than dist/ (the tests)
const outputDirArg = process.argv.indexOf('--output-dir');
const outputDir = outputDirArg > 0 ? process.argv[outputDirArg + 1] : join(exporterDir, 'dist');
const output = join(outputDir, `av-exporter_${debianVersion}_all.deb`);

if (!existsSync(bundle)) throw new Error(`${bundle} is missing: npm run build first`);
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? lastCommitTime() ?? Math.floor(statSync(bundle).mtimeMs / 1000));

const root = mkdtempSync(join(tmpdir(), 'av-exporter-deb-'));
try {
  // executable (it starts with #!/usr/bin/env node), though the unit runs it with node explicitly
  place('usr/share/av-exporter/av-exporter.js', readFileSync(bundle), 0o755);
  place('lib/systemd/system/av-exporter.service', readFileSync(join(debianDir, 'av-exporter.service')));
  place('etc/av-exporter/config.yml', readFileSync(join(debianDir, 'config.yml')));
  place('usr/share/doc/av-exporter/copyright', readFileSync(join(debianDir, 'copyright')));
  place('usr/share/doc/av-exporter/README.md', readFileSync(join(exporterDir, 'README.md')));
  // gzip's header then holds no name and no time: the same bytes every build
  place('usr/share/doc/av-exporter/changelog.Debian.gz', gzipSync(changelog(), { level: 9 }));
  for (const script of ['postinst', 'prerm', 'postrm']) place(`DEBIAN/${script}`, readFileSync(join(debianDir, script)), 0o755);
  place('DEBIAN/conffiles', '/etc/av-exporter/config.yml\n');
  place('DEBIAN/md5sums', md5sums(root));
  place('DEBIAN/control', control(installedSizeKiB(root)));
  for (const path of walk(root)) utimesSync(path, epoch, epoch);
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', '-Zxz', root, output], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
  });
  console.log(`built ${output}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}

function place(path, content, mode = 0o644) {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  chmodSync(target, mode);
}

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      chmodSync(path, 0o755);
      yield* walk(path);
    }
    yield path;
  }
  if (dir === root) {
    chmodSync(root, 0o755);
    yield root;
  }
}

function installedSizeKiB(dir) {
  let kib = 0;
  for (const path of walk(dir)) {
    if (!path.includes(`${root}/DEBIAN`) && statSync(path).isFile()) kib += Math.ceil(statSync(path).size / 1024);
  }
  return kib;
}

/** dpkg --verify's list: every file but the DEBIAN ones and the conffiles (dpkg keeps their sums itself). */
function md5sums(dir) {
  const lines = [];
  for (const path of walk(dir)) {
    const relative = path.slice(root.length + 1);
    if (relative.startsWith('DEBIAN/') || relative.startsWith('etc/') || !statSync(path).isFile()) continue;
    lines.push(`${createHash('md5').update(readFileSync(path)).digest('hex')}  ${relative}`);
  }
  return `${lines.sort((a, b) => a.slice(34).localeCompare(b.slice(34))).join('\n')}\n`;
}

function control(installedSize) {
  return [
    'Package: av-exporter',
    `Version: ${debianVersion}`,
    'Architecture: all',
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedSize}`,
    'Depends: nodejs (>= 18), init-system-helpers (>= 1.54~)',
    'Section: net',
    'Priority: optional',
    'Description: Prometheus exporter for nginx access logs',
    " av-exporter follows nginx's access log and exposes requests per status code",
    ' and method and a fine latency histogram for Prometheus, continuing across',
    ' restarts and log rotations. One JavaScript file run by Node.js, as the',
    ' systemd unit av-exporter; its options are in /etc/av-exporter/config.yml.',
    '',
  ].join('\n');
}

function changelog() {
  const date = new Date(epoch * 1000).toUTCString().replace(/^(\w+), (\d+) (\w+) (\d+) ([\d:]+) GMT$/, '$1, $2 $3 $4 $5 +0000');
  return [
    `av-exporter (${debianVersion}) unstable; urgency=medium`,
    '',
    '  * Packaged by npm run package; the changes are in the repository\'s history.',
    '',
    ` -- ${MAINTAINER}  ${date}`,
    '',
  ].join('\n');
}

function lastCommitTime() {
  try {
    return execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: exporterDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}
