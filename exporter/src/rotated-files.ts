// The files logrotate leaves beside a log, and their order: numbered names (`access.log.1`, `.2`, ...:
// the higher, the older) or `dateext` names (`access.log-20250101`: the later, the newer), each perhaps
// compressed (`.gz`, `.bz2`, `.xz`, `.zst`). An entry that cannot be stat'ed (a symlink loop, a symlink
// into a directory this process may not enter) is left out: it is not the log, and must not stop reading.
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface RotatedFile {
  path: string;
  inode: number;
  size: number;
  mtimeMs: number;
  /** Compressed by logrotate: its lines cannot be read here. */
  compressed: boolean;
  /** `.1` → 1 (numbered names); null for a dateext name. */
  number: number | null;
  /** The digits of a dateext name; null for a numbered name. */
  date: string | null;
}

const COMPRESSED_SUFFIX = /\.(gz|bz2|xz|zst)$/;

/** The rotated files of `logPath` in its directory, oldest first. */
export async function rotatedFiles(logPath: string): Promise<RotatedFile[]> {
  const directory = dirname(logPath);
  const base = basename(logPath);
  const found: RotatedFile[] = [];
  for (const name of await entriesOf(directory)) {
    const parsed = parseRotatedName(base, name);
    if (!parsed) continue;
    const path = join(directory, name);
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) continue;
    found.push({ path, inode: info.ino, size: info.size, mtimeMs: info.mtimeMs, ...parsed });
  }
  return found.sort(compareAge);
}

/** Negative when `a` was rotated before `b`. Names of one scheme order by name; otherwise by mtime. */
export function compareAge(a: RotatedFile, b: RotatedFile): number {
  if (a.number !== null && b.number !== null && a.number !== b.number) return b.number - a.number;
  if (a.date !== null && b.date !== null && a.date !== b.date) return a.date.length - b.date.length || (a.date < b.date ? -1 : 1);
  return a.mtimeMs - b.mtimeMs;
}

function parseRotatedName(base: string, name: string): Pick<RotatedFile, 'compressed' | 'number' | 'date'> | null {
  if (!name.startsWith(base) || name === base) return null;
  const compressed = COMPRESSED_SUFFIX.test(name);
  const suffix = name.slice(base.length).replace(COMPRESSED_SUFFIX, '');
  const numbered = /^\.(\d{1,6})$/.exec(suffix);
  if (numbered) return { compressed, number: Number(numbered[1]), date: null };
  const dated = /^-(\d{8,14})$/.exec(suffix);
  if (dated) return { compressed, number: null, date: dated[1]! };
  return null;
}

/** The names in `directory`; none when it cannot be listed (the log's own open decides health). */
export async function entriesOf(directory: string): Promise<string[]> {
  return readdir(directory).catch(() => []);
}
