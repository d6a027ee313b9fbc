// The exporter's state file: where it stands in the log and the totals it has exposed, saved
// together and atomically. Only totals already saved are exposed (state-saver.ts), so a restart (even
// after kill -9) continues both the reading and the counters from at least where Prometheus last saw
// them: no line is lost or counted twice, and no counter goes backwards.
import { constants, readFileSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FilePosition } from './file-position.js';
import type { TallySnapshot } from './log-tally.js';
import { checkStateParts, snapshotProblems, type CheckedState } from './state-check.js';

const STATE_VERSION = 2;

export interface SavedState {
  version: typeof STATE_VERSION;
  savedAt: string;
  /** The files being read (rotated ones first, the log itself last); null before reading started. */
  files: FilePosition[] | null;
  tally: TallySnapshot;
}

/** A state file that is not a state (not JSON, not this exporter's): it can be moved aside. */
export class StateFileError extends Error {}

/**
 * A state file that is there but cannot be read (its permissions, a directory at its path): it may hold
 * the totals, so it is neither moved aside nor replaced; the exporter does not start.
 */
export class StateUnreadableError extends Error {}

/**
 * The saved state's sound parts and what was refused in it, or null when there is none yet. Throws
 * StateUnreadableError when the file is there but cannot be read, and StateFileError when what it
 * holds is not a state (not JSON, not a state).
 */
export function loadState(path: string): CheckedState | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT') return null;
    throw new StateUnreadableError(
      `cannot read state file ${path} (${message}): it is kept as it is, and the exporter does not start. ` +
        (code === 'EISDIR'
          ? 'Something other than a file is at that path: move it away, or point --positions-file elsewhere.'
          : "Give it back to the exporter's user (chown; it happens after the exporter was run by hand as root) or make it readable; or remove it to start from zero."),
    );
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    throw new StateFileError(`state file ${path} is not valid JSON`);
  }
  const version = typeof state === 'object' && state !== null ? (state as { version?: unknown }).version : undefined;
  // Version 1 kept one position, without a fingerprint; it is read as a version 2 state with one file.
  if (version === 1) {
    const { position, tally } = state as { position?: unknown; tally?: unknown };
    return checkStateParts(position === null || position === undefined ? null : [position], tally);
  }
  if (version !== STATE_VERSION) throw new StateFileError(`state file ${path} is not a version ${STATE_VERSION} (or 1) av-exporter state`);
  const { files, tally } = state as { files?: unknown; tally?: unknown };
  return checkStateParts(files, tally);
}

/**
 * Writes the state fully or not at all: every write's byte count is checked, the file is fsynced, then
 * renamed over the old one and the directory fsynced. On any failure the previous state file stays as
 * it was and this throws.
 */
export async function saveState(path: string, files: FilePosition[] | null, tally: TallySnapshot): Promise<void> {
  const problems = snapshotProblems(files, tally);
  if (problems.length > 0) throw new StateFileError(`refusing to save a state it could not read back: ${problems.join('; ')}`);
  const state: SavedState = { version: STATE_VERSION, savedAt: new Date().toISOString(), files, tally };
  const temporary = `${path}.tmp`;
  try {
    const handle = await createTemporary(temporary);
    try {
      await writeFully(handle, Buffer.from(JSON.stringify(state)));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => {});
    throw new StateFileError(`cannot save state file ${path}: ${(error as Error).message}`);
  }
  await syncDirectory(dirname(path));
}

/**
 * Creates the temporary file anew, never through a symlink: O_EXCL fails on anything already at the name
 * (a symlink included, which is not followed), and O_NOFOLLOW says so again. What is there (left by a
 * crash, or planted) is removed, which removes a symlink itself and never its target, and the create
 * is tried once more.
 */
async function createTemporary(temporary: string): Promise<FileHandle> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  try {
    return await open(temporary, flags, 0o640);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  await rm(temporary);
  return open(temporary, flags, 0o640);
}

async function writeFully(handle: FileHandle, bytes: Buffer): Promise<void> {
  for (let written = 0; written < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, written);
    if (bytesWritten <= 0) throw new Error(`short write: ${written} of ${bytes.length} bytes written`);
    written += bytesWritten;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } catch (error) {
    throw new StateFileError(`cannot save state in ${directory}: the directory could not be synced: ${(error as Error).message}`);
  } finally {
    await handle.close();
  }
}
