// What can be known of a gzip-compressed rotated file without reading its lines: whether it is the
// compressed copy of a file read before (its first bytes, decompressed, have that file's fingerprint),
// and how many bytes it held (gzip's trailer keeps the size modulo 2^32). Other compressions tell nothing.
import { constants as fileConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants, gunzipSync } from 'node:zlib';
import { FINGERPRINT_BYTES, fingerprintOf } from './file-identity.js';
import type { Fingerprint } from './file-position.js';

/** Enough compressed bytes for FINGERPRINT_BYTES of log text, whatever the compression level. */
const HEAD_BYTES = 16 * 1024;

/** True when `path` is gzip data that starts, decompressed, with the bytes `fingerprint` was taken of. */
export async function gzipStartsWith(path: string, fingerprint: Fingerprint): Promise<boolean> {
  const compressed = await readAt(path, 0, HEAD_BYTES);
  if (!isGzip(compressed)) return false;
  let head: Buffer;
  try {
    // Z_SYNC_FLUSH: decompress what the partial input holds instead of failing on its missing end
    head = gunzipSync(compressed, { finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    return false;
  }
  if (head.length < fingerprint.bytes || fingerprint.bytes > FINGERPRINT_BYTES) return false;
  return fingerprintOf(head.subarray(0, fingerprint.bytes)).sha256 === fingerprint.sha256;
}

/** The uncompressed size gzip's trailer records (exact below 4 GiB), or null when `path` is not gzip. */
export async function gzipUncompressedSize(path: string, compressedSize: number): Promise<number | null> {
  if (compressedSize < 18) return null;
  if (!isGzip(await readAt(path, 0, 2))) return null;
  return (await readAt(path, compressedSize - 4, 4)).readUInt32LE(0);
}

function isGzip(bytes: Buffer): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, fileConstants.O_RDONLY | fileConstants.O_NONBLOCK);
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
