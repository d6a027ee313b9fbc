// The Prometheus text exposition rewritten as OpenMetrics 1.0, for a scraper that asks for it.
//
// prom-client can render OpenMetrics itself, but only as a setting of the whole registry, and doing so
// renames its counters for good (it strips `_total` from the metric objects): switching per request
// would race between concurrent scrapes and break the next Prometheus-text scrape. The log metrics are
// our own text anyway, so both go through this one rewrite of the finished text instead.
//
// The differences that matter here: a counter family is named without `_total` (its samples keep it),
// HELP escapes double quotes too, `untyped` is `unknown`, no blank lines or other comments, and the
// exposition ends with `# EOF`.

const METADATA = /^# (HELP|TYPE) (\S+) ?(.*)$/;

export function toOpenMetrics(prometheusText: string): string {
  const lines = prometheusText.split('\n');
  const counters = new Set<string>();
  for (const line of lines) {
    const match = METADATA.exec(line);
    if (match?.[1] === 'TYPE' && match[3] === 'counter') counters.add(match[2]!);
  }
  const out: string[] = [];
  for (const line of lines) {
    if (line === '') continue;
    const metadata = METADATA.exec(line);
    if (metadata) {
      const [, kind, name, rest = ''] = metadata as unknown as [string, 'HELP' | 'TYPE', string, string];
      const family = counters.has(name) ? name.replace(/_total$/, '') : name;
      if (kind === 'HELP') out.push(`# HELP ${family} ${rest.replace(/"/g, '\\"')}`);
      else out.push(`# TYPE ${family} ${rest === 'untyped' ? 'unknown' : rest}`);
      continue;
    }
    if (line.startsWith('#')) continue;
    out.push(counterSample(line, counters));
  }
  return `${out.join('\n')}\n# EOF\n`;
}

/** A counter's sample whose name lacks `_total` (a family typed counter under a bare name) gets it. */
function counterSample(line: string, counters: ReadonlySet<string>): string {
  const nameEnd = line.search(/[{ ]/);
  const name = nameEnd < 0 ? line : line.slice(0, nameEnd);
  return counters.has(name) && !name.endsWith('_total') ? `${name}_total${line.slice(name.length)}` : line;
}
