// Renders a tally snapshot in the Prometheus text format.
//
// These metrics are not prom-client objects: prom-client's metrics can only be moved by inc() and
// observe(), while these must be set to exact totals restored from the state file and exposed from
// the very snapshot that was saved. The format itself is small; `promtool check metrics` checks it.
import type { HistogramSnapshot, TallySnapshot } from './log-tally.js';

export function logMetricNames(prefix: string) {
  return {
    requests: `${prefix}_nginx_http_requests_total`,
    duration: `${prefix}_nginx_http_request_duration_seconds`,
    upstream: `${prefix}_nginx_upstream_response_duration_seconds`,
    bodyBytes: `${prefix}_nginx_http_response_body_bytes_total`,
    lines: `${prefix}_nginx_log_lines_total`,
  } as const;
}

export function renderTally(snapshot: TallySnapshot, prefix: string): string {
  const names = logMetricNames(prefix);
  const out: string[] = [];
  header(out, names.requests, 'counter', 'Requests nginx logged, by HTTP status and method (non-standard methods as OTHER).');
  const requests = [...snapshot.requests].sort((a, b) => a.status.localeCompare(b.status) || a.method.localeCompare(b.method));
  for (const { status, method, count } of requests) {
    out.push(`${names.requests}{status="${status}",method="${method}"} ${count}`);
  }
  histogram(out, names.duration, 'Request processing time ($request_time), in seconds.', snapshot.duration);
  histogram(out, names.upstream, 'Time spent waiting for upstream servers ($upstream_response_time, summed over attempts), in seconds.', snapshot.upstream);
  header(out, names.bodyBytes, 'counter', 'Response body bytes sent to clients ($body_bytes_sent).');
  out.push(`${names.bodyBytes} ${snapshot.bodyBytes}`);
  header(out, names.lines, 'counter', 'Access log lines read, by result: parsed, or malformed (not counted anywhere else).');
  out.push(`${names.lines}{result="parsed"} ${snapshot.parsedLines}`);
  out.push(`${names.lines}{result="malformed"} ${snapshot.malformedLines}`);
  return `${out.join('\n')}\n`;
}

function histogram(out: string[], name: string, help: string, h: HistogramSnapshot): void {
  header(out, name, 'histogram', help);
  let cumulative = 0;
  h.bounds.forEach((bound, i) => {
    cumulative += h.counts[i] ?? 0;
    out.push(`${name}_bucket{le="${bound}"} ${cumulative}`);
  });
  out.push(`${name}_bucket{le="+Inf"} ${h.count}`);
  out.push(`${name}_sum ${h.sum}`);
  out.push(`${name}_count ${h.count}`);
}

function header(out: string[], name: string, type: 'counter' | 'histogram', help: string): void {
  out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\')}`, `# TYPE ${name} ${type}`);
}
