// Plain lines on stderr: under systemd, journald adds the time and the unit.
export function logInfo(message: string): void {
  process.stderr.write(`av-exporter: ${message}\n`);
}

export function logWarning(message: string): void {
  process.stderr.write(`av-exporter: warning: ${message}\n`);
}
