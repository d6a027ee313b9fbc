// What a scraper asked for, per request: the exposition format (Accept) and gzip (Accept-Encoding).

export type ExpositionFormat = 'prometheus-text' | 'openmetrics';

export const CONTENT_TYPES: Readonly<Record<ExpositionFormat, string>> = {
  'prometheus-text': 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

interface MediaRange {
  value: string;
  params: Map<string, string>;
  q: number;
}

/** An Accept or Accept-Encoding header as its entries, each with its parameters and q (1 when not given, 0 when not a number). */
function mediaRanges(header: string | undefined): MediaRange[] {
  if (!header) return [];
  return header.split(',').map((entry) => {
    const [value = '', ...rest] = entry.split(';').map((part) => part.trim());
    const params = new Map<string, string>();
    for (const param of rest) {
      const equals = param.indexOf('=');
      if (equals > 0) params.set(param.slice(0, equals).trim().toLowerCase(), param.slice(equals + 1).trim().replace(/^"|"$/g, ''));
    }
    const q = params.has('q') ? Number(params.get('q')) : 1;
    return { value: value.toLowerCase(), params, q: Number.isFinite(q) ? q : 0 };
  });
}

/**
 * OpenMetrics when the scraper prefers it (Prometheus sends it first, with the highest q); the Prometheus
 * text format otherwise, also for no Accept at all and for anything not understood.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  let best: { format: ExpositionFormat; q: number } = { format: 'prometheus-text', q: 0 };
  for (const range of mediaRanges(accept)) {
    const format = formatOf(range);
    if (format && range.q > best.q) best = { format, q: range.q };
  }
  return best.format;
}

function formatOf({ value, params }: MediaRange): ExpositionFormat | null {
  if (value === 'application/openmetrics-text') {
    const version = params.get('version');
    return version === undefined || version === '1.0.0' || version === '0.0.1' ? 'openmetrics' : null;
  }
  if (value === 'text/plain' || value === 'text/*' || value === '*/*') return 'prometheus-text';
  return null;
}

/** True when the client takes gzip: named (or `*`) with a q above 0, and not refused by name. */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  const ranges = mediaRanges(acceptEncoding);
  const named = ranges.find((range) => range.value === 'gzip' || range.value === 'x-gzip');
  if (named) return named.q > 0;
  return ranges.some((range) => range.value === '*' && range.q > 0);
}
