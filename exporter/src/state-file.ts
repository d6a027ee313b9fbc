// The exporter's state file: where it stands in the log and the totals it has exposed, saved
// together and atomically. Saved before every scrape is answered, it makes a restart (even after
// kill -9) continue both the reading and the counters exactly where Prometheus last saw them:
// no line is lost or counted twice, and no counter goes backwards.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FilePosition } from './file-position.js';
import type { TallySnapshot } from './log-tally.js';

const STATE_VERSION = 2;

export interface SavedState {
  version: typeof STATE_VERSION;
  savedAt: string;
  /** The files being read (rotated ones first, the log itself last); null before reading started. */
  files: FilePosition[] | null;
  tally: TallySnapshot;
}

/** Version 1 kept one position, without a fingerprint; it is read as a version 2 state with one file. */
interface SavedStateV1 {
  version: 1;
  savedAt: string;
  position: FilePosition | null;
  tally: TallySnapshot;
}

export class StateFileError extends Error {}

/** The saved state, or null when there is none yet. Throws StateFileError when the file is unusable. */
export function loadState(path: string): SavedState | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StateFileError(`cannot read state file ${path}: ${(error as Error).message}`);
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    throw new StateFileError(`state file ${path} is not valid JSON`);
  }
  if (isSavedStateV1(state)) return { version: STATE_VERSION, savedAt: state.savedAt, files: state.position ? [state.position] : null, tally: state.tally };
  if (!isSavedState(state)) {
    throw new StateFileError(`state file ${path} is not a version ${STATE_VERSION} (or 1) av-exporter state`);
  }
  return state;
}

export function saveState(path: string, files: FilePosition[] | null, tally: TallySnapshot): void {
  const state: SavedState = { version: STATE_VERSION, savedAt: new Date().toISOString(), files, tally };
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, 'w', 0o640);
  try {
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  syncDirectory(dirname(path));
}

function syncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function isSavedState(value: unknown): value is SavedState {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Partial<SavedState>;
  const filesOk = state.files === null || (Array.isArray(state.files) && state.files.every(isFilePosition));
  return state.version === STATE_VERSION && filesOk && isTally(state.tally);
}

function isSavedStateV1(value: unknown): value is SavedStateV1 {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Partial<SavedStateV1>;
  return state.version === 1 && (state.position === null || isFilePosition(state.position)) && isTally(state.tally);
}

function isFilePosition(value: unknown): value is FilePosition {
  if (typeof value !== 'object' || value === null) return false;
  const position = value as Partial<FilePosition>;
  const fingerprint = position.fingerprint;
  const fingerprintOk =
    fingerprint === undefined ||
    (typeof fingerprint === 'object' && fingerprint !== null && Number.isSafeInteger(fingerprint.bytes) &&
      fingerprint.bytes >= 0 && typeof fingerprint.sha256 === 'string');
  return typeof position.path === 'string' && Number.isSafeInteger(position.inode) &&
    Number.isSafeInteger(position.offset) && (position.offset ?? -1) >= 0 && fingerprintOk;
}

function isTally(tally: unknown): tally is TallySnapshot {
  if (typeof tally !== 'object' || tally === null) return false;
  const t = tally as Partial<TallySnapshot>;
  return Array.isArray(t.requests) && isHistogram(t.duration) && isHistogram(t.upstream) &&
    typeof t.bodyBytes === 'number' && typeof t.parsedLines === 'number' && typeof t.malformedLines === 'number';
}

function isHistogram(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const h = value as Record<string, unknown>;
  return Array.isArray(h.bounds) && Array.isArray(h.counts) && typeof h.sum === 'number' && typeof h.count === 'number';
}
