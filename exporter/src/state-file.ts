// The exporter's state file: where it stands in the log and the totals it has exposed, saved
// together and atomically. Saved before every scrape is answered, it makes a restart (even after
// kill -9) continue both the reading and the counters exactly where Prometheus last saw them:
// no line is lost or counted twice, and no counter goes backwards.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FilePosition } from './file-position.js';
import type { TallySnapshot } from './log-tally.js';

const STATE_VERSION = 1;

export interface SavedState {
  version: typeof STATE_VERSION;
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
  if (!isSavedState(state)) {
    throw new StateFileError(`state file ${path} is not a version ${STATE_VERSION} av-exporter state`);
  }
  return state;
}

export function saveState(path: string, position: FilePosition | null, tally: TallySnapshot): void {
  const state: SavedState = { version: STATE_VERSION, savedAt: new Date().toISOString(), position, tally };
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
  const position = state.position;
  const positionOk =
    position === null ||
    (typeof position === 'object' && position !== undefined &&
      typeof position.path === 'string' && Number.isSafeInteger(position.inode) &&
      Number.isSafeInteger(position.offset) && position.offset >= 0);
  const tally = state.tally;
  const tallyOk =
    typeof tally === 'object' && tally !== null &&
    Array.isArray(tally.requests) && isHistogram(tally.duration) && isHistogram(tally.upstream) &&
    typeof tally.bodyBytes === 'number' && typeof tally.parsedLines === 'number' &&
    typeof tally.malformedLines === 'number';
  return state.version === STATE_VERSION && positionOk && tallyOk;
}

function isHistogram(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const h = value as Record<string, unknown>;
  return Array.isArray(h.bounds) && Array.isArray(h.counts) && typeof h.sum === 'number' && typeof h.count === 'number';
}
