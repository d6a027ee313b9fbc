// Saves the state file in the background, one save at a time, and keeps the snapshot last saved: that,
// and never a newer one, is what /metrics exposes. So a scrape never waits for an fsync, and the totals
// Prometheus has seen are never ahead of the state file a restart would continue from.
import type { FilePosition } from './file-position.js';
import type { TallySnapshot } from './log-tally.js';
import { logInfo, logWarning } from './log.js';
import { saveState } from './state-file.js';

export interface StateToSave {
  files: FilePosition[] | null;
  tally: TallySnapshot;
}

/**
 * Background saves start at most this often, whatever the load: each is a write, an fsync and a rename.
 * Positions and totals are saved together, so a save skipped costs only re-reading lines after a
 * SIGKILL, never a count.
 */
export const MIN_SAVE_INTERVAL_MS = 1000;

export class StateSaver {
  private chain: Promise<void> = Promise.resolve();
  private queued: Promise<boolean> | null = null;
  private lastStartedAt = -Infinity;
  private saved: TallySnapshot | null = null;
  private failure: string | null = null;
  private failureCount = 0;

  /** `take` must read positions and totals together, synchronously, so they describe the same lines. */
  constructor(
    private readonly path: string,
    private readonly take: () => StateToSave,
    private readonly now: () => number = Date.now,
  ) {}

  /** The totals of the last successful save; null before the first. */
  lastSaved(): TallySnapshot | null {
    return this.saved;
  }

  /** Why the last save failed; null when it succeeded. */
  lastFailure(): string | null {
    return this.failure;
  }

  failures(): number {
    return this.failureCount;
  }

  /**
   * Saves the state as it is when the save starts; true when it was saved. Requests made while a save
   * waits to start share it, so a burst of requests costs one save.
   */
  save(): Promise<boolean> {
    if (this.queued) return this.queued;
    const next = this.chain.then(() => {
      this.queued = null;
      return this.saveNow();
    });
    this.queued = next;
    this.chain = next.then(() => {});
    return next;
  }

  /**
   * A background save: as save(), unless one started less than MIN_SAVE_INTERVAL_MS ago; then null, and
   * the caller asks again later (the poller does at every poll).
   */
  saveIfDue(): Promise<boolean> | null {
    if (this.queued) return this.queued;
    if (this.now() - this.lastStartedAt < MIN_SAVE_INTERVAL_MS) return null;
    return this.save();
  }

  private async saveNow(): Promise<boolean> {
    this.lastStartedAt = this.now();
    const { files, tally } = this.take();
    try {
      await saveState(this.path, files, tally);
    } catch (error) {
      const message = (error as Error).message;
      this.failureCount++;
      if (message !== this.failure) logWarning(`${message}; the previous state stays, and the totals exposed stay at what it holds`);
      this.failure = message;
      return false;
    }
    if (this.failure) logInfo(`state file ${this.path}: saved again`);
    this.failure = null;
    this.saved = tally;
    return true;
  }
}
