// Plain lines on stderr. Under systemd, journald adds the time and the unit, and reads each line's
// syslog priority from a `<N>` prefix (SyslogLevelPrefix=, on by default): the prefix is written only when
// stderr is that journal stream, so a terminal or a file gets clean lines.
import { fstatSync } from 'node:fs';

const PRIORITY = { error: 3, warning: 4, info: 6 } as const;

/** systemd sets JOURNAL_STREAM to the device and inode of the stream it connected; a child that kept the variable but not the stream does not match. */
function stderrIsJournal(): boolean {
  const stream = process.env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const { dev, ino } = fstatSync(2);
    return stream === `${dev}:${ino}`;
  } catch {
    return false;
  }
}

const toJournal = stderrIsJournal();

function write(priority: keyof typeof PRIORITY, line: string): void {
  process.stderr.write(`${toJournal ? `<${PRIORITY[priority]}>` : ''}av-exporter: ${line}\n`);
}

export function logInfo(message: string): void {
  write('info', message);
}

export function logWarning(message: string): void {
  write('warning', `warning: ${message}`);
}

/** The error that ends the process (or refuses to start it). */
export function logError(message: string): void {
  write('error', message);
}
