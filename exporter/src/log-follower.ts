// Follows a log file like `tail -F`, from a saved position, and hands its bytes to a LineSplitter.
//
// The contract, as the tests state it:
// - A file that does not exist yet is waited for; each poll() tries again.
// - Rename rotation (logrotate's default: rename, create, then the writer reopens): the old file is
//   read to its end and the new one from its start. The switch waits until the new file has bytes,
//   because until the writer reopens, what it writes still lands in the old file.
// - Copy-and-truncate rotation: a file that shrank below the read offset is read again from 0.
//   (Lines written between logrotate's copy and its truncate are in the copy only; like every
//   follower of a copytruncate'd file, this one cannot see them.)
// - After a restart it continues at the saved position; when the file was renamed in the meantime,
//   it finds the rotated file by its inode in the same directory and finishes that one first.
// - Only whole lines are counted: the position saved is the end of the last whole line.
// poll() is driven from outside (a timer in production, the test itself in tests), so no test sleeps.
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FilePosition } from './file-position.js';
import type { LineSplitter } from './line-splitter.js';

export type RotationKind = 'rename' | 'truncate';

export interface FollowerOptions {
  /** The log file to follow. */
  path: string;
  /** Receives the bytes read. */
  splitter: LineSplitter;
  /** Where an earlier run stopped; null or absent reads the file from its start. */
  resumeFrom?: FilePosition | null;
  /** Size of one read, in bytes. Default 1 MiB. */
  chunkBytes?: number;
  /** Told of each rotation seen. */
  onRotation?: (kind: RotationKind) => void;
}

interface OpenFile {
  handle: FileHandle;
  inode: number;
  readOffset: number;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;

export class LogFollower {
  private readonly path: string;
  private readonly splitter: LineSplitter;
  private readonly buffer: Buffer;
  private readonly onRotation: (kind: RotationKind) => void;
  private resumeFrom: FilePosition | null;
  private file: OpenFile | null = null;

  constructor(options: FollowerOptions) {
    this.path = options.path;
    this.splitter = options.splitter;
    this.resumeFrom = options.resumeFrom ?? null;
    this.buffer = Buffer.allocUnsafe(options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
    this.onRotation = options.onRotation ?? (() => {});
  }

  /** The end of the last whole line counted, or the resume point while the file is not open yet. */
  position(): FilePosition | null {
    if (!this.file) return this.resumeFrom;
    return { path: this.path, inode: this.file.inode, offset: this.file.readOffset - this.splitter.unfinishedBytes };
  }

  /** Reads everything there is to read now, following a rotation if one happened. */
  async poll(): Promise<void> {
    if (!this.file) {
      this.file = await this.openFirst();
      if (!this.file) return;
      this.resumeFrom = null;
    }
    await this.readToEnd(this.file);
    await this.followTruncation(this.file);
    await this.followReplacement(this.file);
  }

  async close(): Promise<void> {
    await this.file?.handle.close();
    this.file = null;
  }

  private async openFirst(): Promise<OpenFile | null> {
    const resume = this.resumeFrom;
    if (!resume || resume.path !== this.path) return openAt(this.path, 0);
    const current = await statOrNull(this.path);
    if (current && current.ino === resume.inode) {
      // a file shorter than the saved offset was truncated while we were away: start it over
      return openAt(this.path, resume.offset <= current.size ? resume.offset : 0);
    }
    const rotated = await findByInode(dirname(this.path), resume.inode, resume.offset);
    return rotated ? openAt(rotated, resume.offset) : openAt(this.path, 0);
  }

  private async readToEnd(file: OpenFile): Promise<void> {
    for (;;) {
      const { bytesRead } = await file.handle.read(this.buffer, 0, this.buffer.length, file.readOffset);
      if (bytesRead === 0) return;
      // offset and lines move together, synchronously: a snapshot taken between reads is consistent
      file.readOffset += bytesRead;
      this.splitter.push(this.buffer.subarray(0, bytesRead));
    }
  }

  private async followTruncation(file: OpenFile): Promise<void> {
    const { size } = await file.handle.stat();
    if (size >= file.readOffset) return;
    this.splitter.reset();
    file.readOffset = 0;
    this.onRotation('truncate');
    await this.readToEnd(file);
  }

  private async followReplacement(file: OpenFile): Promise<void> {
    const current = await statOrNull(this.path);
    if (!current || current.ino === file.inode || current.size === 0) return;
    await this.readToEnd(file); // the last lines the writer put into the old file
    const next = await openAt(this.path, 0);
    if (!next) return; // replaced again in between; the next poll looks once more
    await file.handle.close();
    this.splitter.reset(); // an unfinished last line of the old file will never be finished
    this.file = next;
    this.onRotation('rename');
    await this.readToEnd(next);
  }
}

async function openAt(path: string, offset: number): Promise<OpenFile | null> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
  const { ino } = await handle.stat();
  return { handle, inode: ino, readOffset: offset };
}

async function statOrNull(path: string): Promise<{ ino: number; size: number } | null> {
  try {
    return await stat(path);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

/** A file in `directory` with that inode and at least `minSize` bytes (the rotated log), or null. */
async function findByInode(directory: string, inode: number, minSize: number): Promise<string | null> {
  for (const name of await readdir(directory)) {
    const candidate = join(directory, name);
    const info = await statOrNull(candidate);
    if (info && info.ino === inode && info.size >= minSize) return candidate;
  }
  return null;
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}
