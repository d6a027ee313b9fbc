// Follows a log file like `tail -F`, from a saved position, and hands its bytes to one LineSplitter per
// file.
//
// The contract, as the tests state it:
// - A file that does not exist yet is waited for; each poll() tries again. A file that appears after
//   the first poll is new: it is read from its start.
// - Start: with nothing to resume, a file already there is read from its start (`startAt: 'beginning'`)
//   or from the end of its last whole line (`'end'`, like tail and mtail).
// - Rename rotation (logrotate: rename, create, then nginx reopens on USR1): the new file is read from its
//   start as soon as it is there, and the old one keeps being read until it has been quiet for
//   `rotateWaitMs`. nginx's workers reopen one by one, so for a moment both files get lines (fluent-bit's
//   `Rotate_Wait` and fluentd's `rotate_wait` keep reading for the same reason). Each file has its own
//   splitter, so lines interleaved across the two are never mixed.
// - A line that never gets its newline (its file went quiet for good, or was truncated) goes to the sink
//   as unfinished, not silently dropped.
// - Copy-and-truncate rotation: a file that shrank below the read offset, or whose first bytes changed
//   (truncated, then written past the old offset between two polls), is read again from 0.
// - Only regular files are read: anything else at the path is an error (poll() throws, naming it) until a
//   regular file is there again.
//   (Lines written between logrotate's copy and its truncate are in the copy only; like every
//   follower of a copytruncate'd file, this one cannot see them.)
// - Identity is inode plus a fingerprint of the first bytes (file-identity.ts). After a restart each
//   saved file is looked for by that identity: the current one at the log path, a rotated one in the
//   same directory; a file found is continued at its saved offset. A saved file that is nowhere to be
//   found (deleted or compressed while the exporter was down, or its inode now holds another file) is a
//   gap: onGap says so, and the file at the log path is read from its start.
// - Rotations not seen happen (the log rotated twice while the exporter was down, or within one poll):
//   when the file last read at the log path is found rotated away, the rotated files newer than it
//   (rotated-files.ts: `.1`, `.2`, `-YYYYMMDD`, perhaps compressed) are read from their start, oldest
//   first. One that is compressed cannot be read: it is a gap, with its size when gzip records it.
// - Entries of the log's directory that cannot be stat'ed are passed over: only the log decides health.
// - A log deleted (or renamed) and not recreated: once it has been quiet for `rotateWaitMs` its
//   descriptor is closed and logMissing() says so; a file that then appears is followed as after a rename.
// - Only whole lines are counted: the offset saved is the end of the last whole line.
// poll() is driven from outside (a timer in production, the test itself in tests), and time is read
// through `now`, so no test sleeps.
import { constants, fstatSync, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { NEWLINE } from './ascii.js';
import { gzipStartsWith, gzipUncompressedSize } from './compressed-head.js';
import { FileHead, hasFingerprint } from './file-identity.js';
import type { FilePosition } from './file-position.js';
import type { LineSplitter } from './line-splitter.js';
import { compareAge, entriesOf, rotatedFiles, type RotatedFile } from './rotated-files.js';

export type RotationKind = 'rename' | 'truncate';
export type StartAt = 'beginning' | 'end';

export interface FollowerOptions {
  /** The log file to follow. */
  path: string;
  /** Makes the splitter for one file; all of them may share one sink. */
  newSplitter: () => LineSplitter;
  /** The files an earlier run was reading (FollowerState.files); null when there is nothing to resume. */
  resumeFrom?: FilePosition[] | null;
  /** Where a file already there at the first poll starts when there is nothing to resume. Default beginning. */
  startAt?: StartAt;
  /** How long a rotated file must stay quiet before it is closed, in ms. Default 5000. */
  rotateWaitMs?: number;
  /** Size of one read, in bytes. Default 1 MiB. */
  chunkBytes?: number;
  /** The clock, in ms. Default Date.now. */
  now?: () => number;
  /** Told of each rotation seen. */
  onRotation?: (kind: RotationKind) => void;
  /** Told when lines can no longer be read, with why, and how many bytes were lost when that is known. */
  onGap?: (message: string, lostBytes: number | null) => void;
  /** Told when the log was deleted or renamed and nothing took its place within `rotateWaitMs`. */
  onLogGone?: (message: string) => void;
}

interface TrackedFile {
  /** The name it was opened under. */
  name: string;
  handle: FileHandle;
  inode: number;
  readOffset: number;
  splitter: LineSplitter;
  head: FileHead;
  /** When it last grew (rotated files are closed after rotateWaitMs without growth). */
  lastGrowthAt: number;
  /** Its modification time when it was last read. */
  mtimeMs: number;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;
const DEFAULT_ROTATE_WAIT_MS = 5000;

export class LogFollower {
  private readonly path: string;
  private readonly newSplitter: () => LineSplitter;
  private readonly chunkBytes: number;
  private readonly buffers: [Buffer, Buffer];
  private readonly startAt: StartAt;
  private readonly rotateWaitMs: number;
  private readonly now: () => number;
  private readonly onRotation: (kind: RotationKind) => void;
  private readonly onGap: (message: string, lostBytes: number | null) => void;
  private readonly onLogGone: (message: string) => void;
  private resumeFrom: FilePosition[] | null;
  private started = false;
  private current: TrackedFile | null = null;
  /** Files rotated away that may still get lines, oldest first. */
  private rotated: TrackedFile[] = [];
  private pathMissing = false;
  /** The log, deleted or renamed, whose descriptor was closed after nothing took its place. */
  private departed: FilePosition | null = null;
  private lastReadAtMs = 0;

  constructor(options: FollowerOptions) {
    this.path = options.path;
    this.newSplitter = options.newSplitter;
    this.resumeFrom = options.resumeFrom ?? null;
    this.startAt = options.startAt ?? 'beginning';
    this.rotateWaitMs = options.rotateWaitMs ?? DEFAULT_ROTATE_WAIT_MS;
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.buffers = [Buffer.allocUnsafe(this.chunkBytes), Buffer.allocUnsafe(this.chunkBytes)];
    this.now = options.now ?? Date.now;
    this.onRotation = options.onRotation ?? (() => {});
    this.onGap = options.onGap ?? (() => {});
    this.onLogGone = options.onLogGone ?? (() => {});
  }

  /**
   * Each open file's position, rotated ones first; null before the first poll has decided where to start
   * (then the saved positions, if any, still stand).
   */
  positions(): FilePosition[] | null {
    if (!this.started) return this.resumeFrom;
    return [...this.rotated, ...(this.current ? [this.current] : [])].map(positionOf);
  }

  /** Bytes in the open files past the read offset: how far behind the reader is. */
  unreadBytes(): number {
    let unread = 0;
    for (const file of this.openFiles()) unread += Math.max(0, fstatSync(file.handle.fd).size - file.readOffset);
    return unread;
  }

  /** When bytes were last read, in ms since the epoch; 0 before the first. */
  lastReadAt(): number {
    return this.lastReadAtMs;
  }

  /** True when the last poll found no file at the log path and none is open. */
  logMissing(): boolean {
    return this.pathMissing && this.current === null;
  }

  /** Why the log cannot be read, for /healthz; null while it can. */
  logProblem(): string | null {
    if (!this.logMissing()) return null;
    return this.departed ? this.goneMessage() : `${this.path} does not exist`;
  }

  /** Reads everything there is to read now, following a rotation if one happened. */
  async poll(): Promise<void> {
    if (!this.started) {
      await this.start();
      this.started = true;
      this.resumeFrom = null;
    }
    await this.drainRotated();
    if (!this.current) {
      if (this.departed && (await statOrNull(this.path))) {
        const departed = this.departed;
        this.departed = null;
        await this.resume([departed], false);
      }
      this.current ??= await this.openTracked(this.path, 0);
      this.pathMissing = this.current === null;
      if (!this.current) return;
    }
    await this.followTruncation(this.current);
    if (await this.readToEnd(this.current)) this.current.lastGrowthAt = this.now();
    await this.followReplacement(this.current);
    await this.closeDepartedLog();
  }

  /** Counts every open file's unfinished last line as whole (LineSplitter.finish): for a file read once. */
  finishLastLines(): void {
    for (const file of this.openFiles()) file.splitter.finish();
  }

  /** Closes every file; unfinished lines stay unread, to be read on resume from the saved offsets. */
  async close(): Promise<void> {
    await Promise.all(this.openFiles().map((file) => file.handle.close()));
    this.current = null;
    this.rotated = [];
  }

  private openFiles(): TrackedFile[] {
    return [...this.rotated, ...(this.current ? [this.current] : [])];
  }

  private async start(): Promise<void> {
    if (this.resumeFrom) {
      await this.resume(this.resumeFrom, true);
      return;
    }
    const file = await this.openTracked(this.path, 0);
    if (file && this.startAt === 'end') file.readOffset = await endOfLastWholeLine(file.handle);
    if (file?.readOffset) await file.head.readFrom(file.handle);
    this.current = file;
  }

  /**
   * Opens the saved files where they are now. The one that was at the log path and is now rotated away
   * anchors the search for rotations not seen. `reportLost`: a saved file that is nowhere is a gap.
   */
  private async resume(saved: FilePosition[], reportLost: boolean): Promise<void> {
    const atPath = await statOrNull(this.path);
    let lastAtPath: FilePosition | null = null;
    for (const position of saved) {
      const found = await this.findSaved(position);
      if (found.file && atPath && found.file.inode === atPath.ino) {
        this.current = found.file;
        continue;
      }
      if (found.file) this.rotated.push(found.file);
      else if (reportLost) await this.reportLost(position, found.otherFileOnInode);
      if (position.path !== this.path) continue;
      if (found.file) this.onRotation('rename'); // rotated while the exporter was down
      lastAtPath = found.file ? await anchorOf(found.file) : position;
    }
    if (lastAtPath) await this.readUnseenRotations(lastAtPath, atPath?.ino ?? null);
  }

  /** The saved file opened at its offset, or null when it is nowhere to be found. */
  private async findSaved(position: FilePosition): Promise<{ file: TrackedFile | null; otherFileOnInode: boolean }> {
    const directory = dirname(this.path);
    const candidates = [...new Set([position.path, this.path, ...(await entriesOf(directory)).map((name) => join(directory, name))])];
    let otherFileOnInode = false;
    for (const name of candidates) {
      // the log path's own errors stop the poll; any other entry that cannot be stat'ed is not the file
      const info = name === this.path ? await statOrNull(name) : await stat(name).catch(() => null);
      if (!info || info.ino !== position.inode) continue;
      const file = await this.openTracked(name, position.offset).catch((error: unknown) => {
        if (name === this.path && !(error instanceof NotRegularFileError)) throw error;
        return null;
      });
      if (!file || file.inode !== position.inode) {
        await file?.handle.close();
        continue;
      }
      const sameFile = info.size >= position.offset && (!position.fingerprint || (await hasFingerprint(file.handle, position.fingerprint)));
      if (sameFile) {
        await file.head.readFrom(file.handle);
        return { file, otherFileOnInode: false };
      }
      await file.handle.close();
      otherFileOnInode = true;
    }
    return { file: null, otherFileOnInode };
  }

  private async reportLost(position: FilePosition, otherFileOnInode: boolean): Promise<void> {
    const compressedCopy = position.fingerprint ? await this.compressedCopyOf(position) : null;
    if (compressedCopy) {
      const size = await gzipUncompressedSize(compressedCopy.path, compressedCopy.size).catch(() => null);
      this.onGap(
        `${position.path} (inode ${position.inode}), read up to offset ${position.offset}, was compressed to ${compressedCopy.path} while the exporter was down: ` +
          'lines written to it after that offset were not counted',
        size !== null && size >= position.offset ? size - position.offset : null,
      );
      return;
    }
    this.onGap(
      otherFileOnInode
        ? `inode ${position.inode} now holds another file (its first bytes differ, or it is shorter than the saved offset ${position.offset}): ` +
            'lines written after that offset to the file it held were not counted'
        : `${position.path} (inode ${position.inode}), read up to offset ${position.offset}, is gone (deleted or compressed while the exporter was down): ` +
            'lines written to it after that offset were not counted',
      null,
    );
  }

  private async compressedCopyOf(position: FilePosition): Promise<RotatedFile | null> {
    for (const file of await rotatedFiles(this.path)) {
      if (file.compressed && position.fingerprint && (await gzipStartsWith(file.path, position.fingerprint).catch(() => false))) return file;
    }
    return null;
  }

  /**
   * The rotated files newer than `anchor` (the file last read at the log path, now rotated away) that
   * no one has read: each is read from its start, oldest first; a compressed one is a gap.
   * `atPathInode`: the file now at the log path, read on its own.
   */
  private async readUnseenRotations(anchor: FilePosition, atPathInode: number | null): Promise<void> {
    for (const older of this.rotated) {
      if (await this.readToEnd(older)) older.lastGrowthAt = this.now();
    }
    const files = await rotatedFiles(this.path);
    const anchorFile = files.find((file) => file.inode === anchor.inode && !file.compressed);
    const known = new Set([atPathInode, anchor.inode, ...this.openFiles().map((file) => file.inode)]);
    for (const file of files) {
      const newer = anchorFile ? compareAge(file, anchorFile) > 0 : anchor.mtimeMs !== undefined && file.mtimeMs > anchor.mtimeMs;
      if (!newer || known.has(file.inode)) continue;
      known.add(file.inode);
      if (file.compressed) {
        const copyOfAnchor = anchor.fingerprint && (await gzipStartsWith(file.path, anchor.fingerprint).catch(() => false));
        if (!copyOfAnchor) await this.reportCompressed(file);
        continue;
      }
      const unseen = await this.openTracked(file.path, 0).catch(() => null);
      if (!unseen) continue;
      this.rotated.push(unseen);
      this.onRotation('rename');
      await this.readToEnd(unseen);
    }
  }

  private async reportCompressed(file: RotatedFile): Promise<void> {
    const size = await gzipUncompressedSize(file.path, file.size).catch(() => null);
    this.onGap(`${file.path} was rotated and compressed before it could be read: its lines were not counted`, size);
  }

  private async drainRotated(): Promise<void> {
    for (const file of [...this.rotated]) {
      if (await this.readToEnd(file)) file.lastGrowthAt = this.now();
      if (this.now() - file.lastGrowthAt < this.rotateWaitMs) continue;
      file.splitter.abandon();
      await file.handle.close();
      this.rotated = this.rotated.filter((other) => other !== file);
    }
  }

  /**
   * Reads the file to its current end; true when it had new bytes. Two buffers take turns: the next
   * chunk is read (on libuv's thread pool) while this one is split and parsed.
   */
  private async readToEnd(file: TrackedFile): Promise<boolean> {
    let grew = false;
    let turn = 0;
    let aheadOffset = file.readOffset;
    let pending = file.handle.read(this.buffers[turn]!, 0, this.chunkBytes, aheadOffset);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const chunk = this.buffers[turn]!.subarray(0, bytesRead);
      aheadOffset += bytesRead;
      turn ^= 1;
      pending = file.handle.read(this.buffers[turn]!, 0, this.chunkBytes, aheadOffset);
      file.head.take(chunk, file.readOffset);
      // offset and lines move together, synchronously: a snapshot taken between reads is consistent
      file.readOffset += bytesRead;
      file.splitter.push(chunk);
      grew = true;
    }
    if (grew) {
      this.lastReadAtMs = this.now();
      file.mtimeMs = (await file.handle.stat()).mtimeMs;
    }
    return grew;
  }

  /**
   * A file that is shorter than the read offset, or whose first bytes are no longer those read, was
   * truncated (and perhaps written past the old offset since): it is read again from its start.
   */
  private async followTruncation(file: TrackedFile): Promise<void> {
    const { size } = await file.handle.stat();
    if (size >= file.readOffset && (await file.head.stillAt(file.handle))) return;
    file.splitter.abandon();
    file.head.clear();
    file.readOffset = 0;
    this.onRotation('truncate');
  }

  private async followReplacement(file: TrackedFile): Promise<void> {
    const current = await statOrNull(this.path);
    this.pathMissing = current === null;
    if (!current || current.ino === file.inode) return;
    const next = await this.openTracked(this.path, 0);
    if (!next) return; // replaced again in between; the next poll looks once more
    file.lastGrowthAt = this.now();
    this.rotated.push(file);
    this.current = next;
    this.onRotation('rename');
    await this.readUnseenRotations(await anchorOf(file), next.inode);
    await this.readToEnd(next);
  }

  /**
   * The log deleted or renamed, nothing at its path, and quiet for rotateWaitMs: its descriptor is
   * closed (a deleted file's space is freed only then) and the log is missing.
   */
  private async closeDepartedLog(): Promise<void> {
    const file = this.current;
    if (!file || !this.pathMissing || this.now() - file.lastGrowthAt < this.rotateWaitMs) return;
    file.splitter.abandon();
    this.departed = await anchorOf(file);
    this.current = null;
    await file.handle.close();
    this.onLogGone(this.goneMessage());
  }

  private goneMessage(): string {
    return `${this.path} was deleted or renamed and nothing took its place within the rotate wait (${this.rotateWaitMs / 1000} s): ` +
      'its descriptor is closed, and a file that appears there is read from its start';
  }

  /**
   * The regular file at `name` opened, or null when there is none. Anything else there (a directory, a
   * FIFO, a device) is an error naming it: opening is non-blocking, so a FIFO cannot hang the open, and
   * nothing but a regular file is ever read.
   */
  private async openTracked(name: string, offset: number): Promise<TrackedFile | null> {
    let handle: FileHandle;
    try {
      handle = await open(name, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    const info = await handle.stat().catch(async (error: Error) => {
      await handle.close();
      throw error;
    });
    if (!info.isFile()) {
      await handle.close();
      throw new NotRegularFileError(`${name} is ${kindOf(info)}, not a regular file: only regular files are read`);
    }
    return {
      name, handle, inode: info.ino, readOffset: offset, splitter: this.newSplitter(), head: new FileHead(), lastGrowthAt: this.now(), mtimeMs: info.mtimeMs,
    };
  }
}

/** Something other than a regular file at a path the follower reads. */
export class NotRegularFileError extends Error {}

function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function positionOf(file: TrackedFile): FilePosition {
  return {
    path: file.name, inode: file.inode, offset: file.readOffset - file.splitter.unfinishedBytes, fingerprint: file.head.fingerprint(), mtimeMs: file.mtimeMs,
  };
}

/** The file's position with its modification time as of now: rotations after it are newer still. */
async function anchorOf(file: TrackedFile): Promise<FilePosition> {
  return { ...positionOf(file), mtimeMs: (await file.handle.stat()).mtimeMs };
}

/** The offset just past the file's last newline (0 when it has none): where a whole line would start. */
async function endOfLastWholeLine(handle: FileHandle): Promise<number> {
  const { size } = await handle.stat();
  const window = Buffer.allocUnsafe(64 * 1024);
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - window.length);
    const { bytesRead } = await handle.read(window, 0, end - start, start);
    const newline = window.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (newline >= 0) return start + newline + 1;
    end = start;
  }
  return 0;
}

async function statOrNull(path: string): Promise<{ ino: number; size: number } | null> {
  try {
    return await stat(path);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}
