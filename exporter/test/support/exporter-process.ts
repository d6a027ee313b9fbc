// The built exporter as a daemon on loopback, and scrapes of it, for the tests that restart it.
import { EXPORTER, fetchText, freePort, parseExposition, startProgram, waitFor, type RunningProgram } from './real-programs.js';

export interface RunningExporter {
  exporter: RunningProgram;
  /** http://127.0.0.1:PORT */
  base: string;
  /** Its /metrics, parsed. */
  scrape: () => Promise<Map<string, number>>;
  /** Scrapes until `accept` returns true, then returns that scrape. */
  scrapeUntil: (what: string, accept: (samples: Map<string, number>) => boolean, timeoutMs?: number) => Promise<Map<string, number>>;
}

/** Basic credentials for an exporter started with --web-config. */
export function basicAuthHeader(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/**
 * Starts the exporter on `logFile` with the given extra flags and waits for /metrics to answer; `headers`
 * go with every scrape (basic auth).
 */
export async function startExporter(logFile: string, flags: string[], running: RunningProgram[], headers: Record<string, string> = {}): Promise<RunningExporter> {
  const port = await freePort();
  const exporter = startProgram('av-exporter', process.execPath, [
    EXPORTER, '--log-file', logFile, '--listen', `127.0.0.1:${port}`, '--poll-interval-ms', '20', ...flags,
  ]);
  running.push(exporter);
  const base = `http://127.0.0.1:${port}`;
  const scrape = async () => parseExposition(await fetchText(`${base}/metrics`, headers));
  await waitFor('the exporter to answer', () => fetchText(`${base}/metrics`, headers), 10_000, [exporter]);
  return {
    exporter,
    base,
    scrape,
    scrapeUntil: (what, accept, timeoutMs = 10_000) =>
      waitFor(what, async () => {
        const samples = await scrape();
        return accept(samples) ? samples : undefined;
      }, timeoutMs, [exporter]),
  };
}

export const PARSED = 'av_nginx_log_lines_total{result="parsed"}';
