// The metrics about the following itself: rotations, gaps, lag and whether the log can be read.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LogFollower, RotationKind } from './log-follower.js';

export interface FollowerHealth {
  /** True while the log is there and the last poll read it without error. */
  readable: () => boolean;
}

export function followerMetrics(registry: Registry, prefix: string, follower: LogFollower, health: FollowerHealth) {
  const registers = [registry];
  const rotations = new Counter({
    name: `${prefix}_nginx_log_rotations_total`,
    help: 'Rotations of the access log the exporter followed, by kind (rename, truncate).',
    labelNames: ['kind'] as const,
    registers,
  });
  for (const kind of ['rename', 'truncate'] as const) rotations.inc({ kind }, 0);
  const gaps = new Counter({
    name: `${prefix}_nginx_log_gaps_total`,
    help: 'Files whose lines could no longer be read: gone, replaced or compressed before they were read to their end.',
    registers,
  });
  const gapBytes = new Counter({
    name: `${prefix}_nginx_log_gap_bytes_total`,
    help: 'Bytes of the log that could no longer be read, where known (a gzip-compressed file records its size; a deleted file tells nothing).',
    registers,
  });
  new Gauge({
    name: `${prefix}_nginx_log_unread_bytes`,
    help: 'Bytes in the log files being read past the read position: how far the exporter is behind nginx.',
    registers,
    collect() {
      this.set(follower.unreadBytes());
    },
  });
  new Gauge({
    name: `${prefix}_nginx_log_last_read_timestamp_seconds`,
    help: 'When the exporter last read new lines, in seconds since the epoch (0: none since it started).',
    registers,
    collect() {
      this.set(follower.lastReadAt() / 1000);
    },
  });
  new Gauge({
    name: `${prefix}_nginx_log_readable`,
    help: '1 while the access log is there and readable, 0 while it is missing or cannot be read (/healthz answers 503).',
    registers,
    collect() {
      this.set(health.readable() ? 1 : 0);
    },
  });
  return {
    rotated: (kind: RotationKind) => rotations.inc({ kind }),
    gap: (lostBytes: number | null) => {
      gaps.inc();
      if (lostBytes) gapBytes.inc(lostBytes);
    },
  };
}
