// A file's identity: its inode plus a fingerprint of its first bytes. Vector's file source does the
// same (`fingerprint.strategy = "checksum"`): after logrotate deletes old files an inode comes back
// for an unrelated file, and resuming at a saved offset inside it would count garbage.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Fingerprint } from './file-position.js';

/** Enough to cover an nginx log's first line, whose `msec` makes it unique. */
export const FINGERPRINT_BYTES = 256;

/** The first bytes of a file as they are read, and their fingerprint. */
export class FileHead {
  private readonly bytes = Buffer.alloc(FINGERPRINT_BYTES);
  private length = 0;
  private cached: Fingerprint | null = null;

  /** Takes what it lacks of the file's first bytes from `chunk`, which was read at `offset`. */
  take(chunk: Buffer, offset: number): void {
    if (this.length >= FINGERPRINT_BYTES || offset > this.length) return;
    const end = Math.min(FINGERPRINT_BYTES, offset + chunk.length);
    if (end <= this.length) return;
    chunk.copy(this.bytes, this.length, this.length - offset, end - offset);
    this.length = end;
    this.cached = null;
  }

  /** Reads the first bytes from the file itself, for a file opened at an offset past them. */
  async readFrom(handle: FileHandle): Promise<void> {
    const { bytesRead } = await handle.read(this.bytes, 0, FINGERPRINT_BYTES, 0);
    this.length = bytesRead;
    this.cached = null;
  }

  /** True when the file still starts with the bytes taken: false after it was truncated and written anew. */
  async stillAt(handle: FileHandle): Promise<boolean> {
    if (this.length === 0) return true;
    const now = Buffer.alloc(this.length);
    const { bytesRead } = await handle.read(now, 0, this.length, 0);
    return bytesRead === this.length && now.equals(this.bytes.subarray(0, this.length));
  }

  /** After a truncation the file starts anew. */
  clear(): void {
    this.length = 0;
    this.cached = null;
  }

  fingerprint(): Fingerprint {
    this.cached ??= fingerprintOf(this.bytes.subarray(0, this.length));
    return this.cached;
  }
}

/** True when the file starts with the bytes the fingerprint was taken of. */
export async function hasFingerprint(handle: FileHandle, expected: Fingerprint): Promise<boolean> {
  if (!(expected.bytes >= 0 && expected.bytes <= FINGERPRINT_BYTES)) return false; // never one this code took
  const head = Buffer.alloc(expected.bytes);
  const { bytesRead } = await handle.read(head, 0, expected.bytes, 0);
  return bytesRead === expected.bytes && sha256(head) === expected.sha256;
}

export function fingerprintOf(head: Buffer): Fingerprint {
  return { bytes: head.length, sha256: sha256(head) };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
