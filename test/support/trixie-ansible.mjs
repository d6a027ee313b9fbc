// Debian 13's ansible-core, to run the playbook as a Debian 13 control machine would, on this Debian 12 one:
// its .deb from the mirror through the lab's apt proxy, unpacked into a temporary directory (its Python
// dependencies are Debian 12's ansible-core's). Nothing is installed.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

const run = promisify(execFile);

async function viaProxy(proxy, url) {
  const { stdout } = await run('curl', ['-sf', '--max-time', '120', '-x', proxy, url], {
    encoding: 'buffer',
    maxBuffer: 256 << 20,
  });
  return stdout;
}

/** Unpacks trixie's ansible-core; resolves with { dir, command(name) → [python3, script], env }. */
export async function trixieAnsibleCore({ proxy, mirror }) {
  const index = gunzipSync(await viaProxy(proxy, `${mirror}/dists/trixie/main/binary-all/Packages.gz`)).toString(
    'utf8',
  );
  const stanza = index.split('\n\n').find((s) => /^Package: ansible-core$/m.test(s));
  const filename = stanza?.match(/^Filename: (.+)$/m)?.[1];
  if (!filename) throw new Error("trixie's package index has no ansible-core");
  const dir = await mkdtemp(join(tmpdir(), 'av-ansible-trixie-'));
  await writeFile(join(dir, 'ansible-core.deb'), await viaProxy(proxy, `${mirror}/${filename}`));
  await run('dpkg-deb', ['-x', join(dir, 'ansible-core.deb'), join(dir, 'root')]);
  return {
    dir,
    command: (name) => ['python3', join(dir, 'root/usr/bin', name)],
    env: { PYTHONPATH: join(dir, 'root/usr/lib/python3/dist-packages') },
  };
}
