// The exporter's options: one typed object, read from a YAML config file, the environment and the
// command line (in rising order of precedence), each value checked with an error that names the
// option, where it came from and the value received.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { bucketListProblem, DEFAULT_UPSTREAM_BUCKETS, defaultLatencyBuckets } from './buckets.js';
import type { StartAt } from './log-follower.js';
import { METHOD_LABELS, type MethodLabel } from './log-record.js';

export interface Endpoint {
  host: string;
  port: number;
}

export type LogFormat = 'json' | 'timed-combined';

/** `exporter` follows the log and serves /metrics; `demo` runs the demo service nginx proxies /api/ to. */
export type Mode = 'exporter' | 'demo';

/** Statuses whose request series exist at 0 from the start, with every preset method. */
export const DEFAULT_PRESET_STATUSES = [200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 429, 499, 500, 502, 503, 504];
export const DEFAULT_PRESET_METHODS: MethodLabel[] = ['GET', 'HEAD', 'POST'];

export interface DemoOptions {
  /** Median latency of /api/work, in seconds (log-normal). Default 0.03. */
  latencyMedianSeconds: number;
  /** Sigma of the log-normal latency of /api/work (0 = constant). Default 0.9. */
  latencySigma: number;
  /** Share of /api/work answered 500. Default 0.03. */
  errorRate: number;
  /** Share of /api/work answered 503. Default 0.02. */
  unavailableRate: number;
}

export interface ExporterOptions {
  /** What this process runs. Default exporter. */
  mode: Mode;
  /** The nginx access log to follow. Required in exporter mode. */
  logFile: string;
  /** `json` (keys are nginx variable names) or `timed-combined`. Default `json`. */
  logFormat: LogFormat;
  /** Where /metrics and /healthz answer. Default 0.0.0.0:8000. */
  listen: Endpoint;
  /** exporter-toolkit web config file (HTTPS, basic auth) of the listen address; null: plain HTTP. Default null. */
  webConfig: string | null;
  /** Where the demo service answers (its own process: --mode demo). Default off (null). */
  demoListen: Endpoint | null;
  /** Where reading starts in a log that is already there when there is no usable state. Default end. */
  startAt: StartAt;
  /** How long a rotated log keeps being read after its last growth, in seconds. Default 5. */
  rotateWaitSeconds: number;
  /** Statuses of the request series that exist at 0 from the start. Default DEFAULT_PRESET_STATUSES. */
  presetStatuses: number[];
  /** Methods of those series. Default GET, HEAD, POST. */
  presetMethods: MethodLabel[];
  /** Prefix of every metric name. Default `av`. */
  prefix: string;
  /** State file (position in the log and the totals); null keeps no state. Default null. */
  positionsFile: string | null;
  /** Bounds of the request duration histogram, in seconds. Default: defaultLatencyBuckets(). */
  buckets: number[];
  /** Bounds of the upstream response time histogram, in seconds. */
  upstreamBuckets: number[];
  /** Longest line kept; longer lines are counted malformed. Default 65536. */
  maxLineBytes: number;
  /** How often the log is checked for new lines, in milliseconds. Default 250. */
  pollIntervalMs: number;
  demo: DemoOptions;
  /** Read the whole file once, print the log metrics, exit. */
  oneShot: boolean;
  /** Check the options and exit. */
  checkConfig: boolean;
}

export class OptionError extends Error {}

type Reader<T> = (value: unknown, where: string) => T;

interface OptionSpec {
  /** Flag name; the env var is AV_EXPORTER_<NAME>, the config key <name> with underscores. */
  name: string;
  help: string;
  /** Checks a value from `where` (a flag, env var or config key) and sets it on the options. */
  apply: (options: ExporterOptions, value: unknown, where: string) => void;
}

function spec<T>(name: string, help: string, read: Reader<T>, assign: (o: ExporterOptions, v: T) => void): OptionSpec {
  return { name, help, apply: (options, value, where) => assign(options, read(value, where)) };
}

const SPECS: readonly OptionSpec[] = [
  spec('mode', 'exporter | demo: follow the log, or run the demo service (default exporter)', readMode, (o, v) => (o.mode = v)),
  spec('log-file', 'nginx access log to follow (required in exporter mode)', readText, (o, v) => (o.logFile = v)),
  spec('log-format', 'json | timed-combined (default json)', readLogFormat, (o, v) => (o.logFormat = v)),
  spec('listen', 'HOST:PORT of /metrics and /healthz (default 0.0.0.0:8000)', readEndpoint, (o, v) => (o.listen = v)),
  spec('web-config', 'exporter-toolkit web config file: HTTPS, basic auth, headers of --listen (default: none, plain HTTP)', readText, (o, v) => (o.webConfig = v)),
  spec('demo-listen', 'HOST:PORT of the demo service (--mode demo only; default off)', readEndpointOrOff, (o, v) => (o.demoListen = v)),
  spec('prefix', 'prefix of every metric name (default av)', readPrefix, (o, v) => (o.prefix = v)),
  spec('positions-file', 'state file: position in the log and totals (default: none)', readText, (o, v) => (o.positionsFile = v)),
  spec('buckets', 'request duration buckets, seconds, comma-separated (default: 1 ms steps to 20 ms, then 5 % steps to 10 s, then 15, 20, 30, 60: 156 bounds)', readBuckets, (o, v) => (o.buckets = v)),
  spec('upstream-buckets', `upstream response time buckets, seconds, comma-separated (default: ${DEFAULT_UPSTREAM_BUCKETS.join(',')})`, readBuckets, (o, v) => (o.upstreamBuckets = v)),
  spec('max-line-bytes', 'longest line kept; longer ones count as malformed (default 65536)', readInteger(256, 64 << 20), (o, v) => (o.maxLineBytes = v)),
  spec('start-at', 'end | beginning: where reading starts in a log already there when no state can be resumed (default end)', readStartAt, (o, v) => (o.startAt = v)),
  spec('rotate-wait-seconds', 'how long a rotated log keeps being read after its last growth (default 5)', readNumber(0, 3600), (o, v) => (o.rotateWaitSeconds = v)),
  spec('preset-statuses', `statuses whose request series exist at 0 from the start, comma-separated, or none (default ${DEFAULT_PRESET_STATUSES.join(',')})`, readStatuses, (o, v) => (o.presetStatuses = v)),
  spec('preset-methods', `methods of those series, comma-separated, or none (default ${DEFAULT_PRESET_METHODS.join(',')})`, readMethods, (o, v) => (o.presetMethods = v)),
  spec('poll-interval-ms', 'how often the log is checked, ms (default 250)', readInteger(10, 60_000), (o, v) => (o.pollIntervalMs = v)),
  spec('demo-latency-median-seconds', 'median latency of /api/work (default 0.03)', readNumber(0, 60), (o, v) => (o.demo.latencyMedianSeconds = v)),
  spec('demo-latency-sigma', 'log-normal sigma of /api/work latency (default 0.9)', readNumber(0, 5), (o, v) => (o.demo.latencySigma = v)),
  spec('demo-error-rate', 'share of /api/work answered 500 (default 0.03)', readNumber(0, 1), (o, v) => (o.demo.errorRate = v)),
  spec('demo-unavailable-rate', 'share of /api/work answered 503 (default 0.02)', readNumber(0, 1), (o, v) => (o.demo.unavailableRate = v)),
];

export function defaultOptions(): ExporterOptions {
  return {
    mode: 'exporter',
    logFile: '',
    logFormat: 'json',
    listen: { host: '0.0.0.0', port: 8000 },
    webConfig: null,
    demoListen: null,
    startAt: 'end',
    rotateWaitSeconds: 5,
    presetStatuses: [...DEFAULT_PRESET_STATUSES],
    presetMethods: [...DEFAULT_PRESET_METHODS],
    prefix: 'av',
    positionsFile: null,
    buckets: defaultLatencyBuckets(),
    upstreamBuckets: [...DEFAULT_UPSTREAM_BUCKETS],
    maxLineBytes: 65536,
    pollIntervalMs: 250,
    demo: { latencyMedianSeconds: 0.03, latencySigma: 0.9, errorRate: 0.03, unavailableRate: 0.02 },
    oneShot: false,
    checkConfig: false,
  };
}

export type CommandLine = { kind: 'run'; options: ExporterOptions } | { kind: 'help'; text: string } | { kind: 'version' };

/** Reads the options from argv (without node and script), the environment and the config file. */
export function readOptions(argv: readonly string[], env: NodeJS.ProcessEnv): CommandLine {
  const flags = parseFlags(argv);
  if (flags.values.help === true) return { kind: 'help', text: usage() };
  if (flags.values.version === true) return { kind: 'version' };

  const options = defaultOptions();
  const configPath = stringFlag(flags.values.config) ?? env.AV_EXPORTER_CONFIG;
  if (configPath) applyConfigFile(options, configPath);
  for (const option of SPECS) {
    const envName = `AV_EXPORTER_${option.name.toUpperCase().replace(/-/g, '_')}`;
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== '') option.apply(options, fromEnv, envName);
  }
  for (const option of SPECS) {
    const fromFlag = flags.values[option.name];
    if (fromFlag !== undefined) option.apply(options, fromFlag, `--${option.name}`);
  }
  options.oneShot = flags.values['one-shot'] === true;
  options.checkConfig = flags.values['check-config'] === true;
  checkWhole(options);
  return { kind: 'run', options };
}

export function usage(): string {
  const lines = SPECS.map((o) => `  --${o.name.padEnd(30)} ${o.help}`);
  return [
    'Usage: av-exporter --log-file PATH [options]',
    '       av-exporter --mode demo --demo-listen HOST:PORT [demo options]',
    '',
    'Follows an nginx access log and exposes request counts and latency histograms for Prometheus;',
    'with --mode demo, runs instead the small demo HTTP service that nginx proxies /api/ to.',
    '',
    'Options (each also as env AV_EXPORTER_<NAME> and as config key <name> with underscores; flags win):',
    `  --${'config'.padEnd(30)} YAML config file (env AV_EXPORTER_CONFIG)`,
    ...lines,
    `  --${'one-shot'.padEnd(30)} read the whole file once, print its metrics to stdout, exit`,
    `  --${'check-config'.padEnd(30)} check the options (and the config and web config files) and exit`,
    `  --${'version'.padEnd(30)} print the version and exit`,
    `  --${'help'.padEnd(30)} this text`,
  ].join('\n');
}

function parseFlags(argv: readonly string[]) {
  const optionConfig: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    'one-shot': { type: 'boolean' },
    'check-config': { type: 'boolean' },
    help: { type: 'boolean' },
    version: { type: 'boolean' },
  };
  for (const option of SPECS) optionConfig[option.name] = { type: 'string' };
  try {
    return parseArgs({ args: [...argv], options: optionConfig, allowPositionals: false, strict: true });
  } catch (error) {
    throw new OptionError(`${(error as Error).message}\n\n${usage()}`);
  }
}

function applyConfigFile(options: ExporterOptions, path: string): void {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new OptionError(`config file ${path}: ${(error as Error).message}`);
  }
  if (document === null || document === undefined) return; // an empty file sets nothing
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new OptionError(`config file ${path}: expected a mapping of option names to values`);
  }
  const byKey = new Map(SPECS.map((o) => [o.name.replace(/-/g, '_'), o]));
  for (const [key, value] of Object.entries(document)) {
    const option = byKey.get(key);
    if (!option) {
      throw new OptionError(`config file ${path}: unknown key "${key}" (known: ${[...byKey.keys()].join(', ')})`);
    }
    option.apply(options, value, `${key} in ${path}`);
  }
}

function checkWhole(options: ExporterOptions): void {
  if (options.mode === 'demo') {
    if (!options.demoListen) throw new OptionError('--mode demo needs --demo-listen HOST:PORT (or AV_EXPORTER_DEMO_LISTEN, or demo_listen in the config file)');
    if (options.webConfig) throw new OptionError('--web-config is for the exporter\'s /metrics listener: the demo service stays plain HTTP, on loopback behind nginx');
  } else {
    if (!options.logFile) throw new OptionError('--log-file is required (or AV_EXPORTER_LOG_FILE, or log_file in the config file)');
    if (options.demoListen) {
      throw new OptionError('--demo-listen is for --mode demo: the demo service runs as its own process, so restarting the exporter never takes it down');
    }
  }
  const { errorRate, unavailableRate } = options.demo;
  if (errorRate + unavailableRate > 1) {
    throw new OptionError(`demo error rate ${errorRate} + unavailable rate ${unavailableRate} exceed 1`);
  }
}

function stringFlag(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function readText(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new OptionError(`${where}: expected a non-empty string, got ${describe(value)}`);
  return value;
}

function readLogFormat(value: unknown, where: string): LogFormat {
  if (value === 'json' || value === 'timed-combined') return value;
  throw new OptionError(`${where}: expected json or timed-combined, got ${describe(value)}`);
}

function readMode(value: unknown, where: string): Mode {
  if (value === 'exporter' || value === 'demo') return value;
  throw new OptionError(`${where}: expected exporter or demo, got ${describe(value)}`);
}

function readStartAt(value: unknown, where: string): StartAt {
  if (value === 'end' || value === 'beginning') return value;
  throw new OptionError(`${where}: expected end or beginning, got ${describe(value)}`);
}

/** A comma-separated string or a YAML list; `none` (or an empty list) is the empty list. */
function listItems(value: unknown, where: string, what: string): string[] {
  if (value === 'none') return [];
  const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : Array.isArray(value) ? value.map(String) : null;
  if (!items || items.some((item) => item === '')) throw new OptionError(`${where}: expected ${what}, comma-separated, or none, got ${describe(value)}`);
  return items;
}

function readStatuses(value: unknown, where: string): number[] {
  const items = listItems(value, where, 'HTTP statuses (100-599)');
  const bad = items.find((item) => !/^[1-5]\d\d$/.test(item));
  if (bad !== undefined) throw new OptionError(`${where}: expected HTTP statuses (100-599), got ${describe(bad)} in ${describe(value)}`);
  return [...new Set(items.map(Number))];
}

function readMethods(value: unknown, where: string): MethodLabel[] {
  const items = listItems(value, where, `methods (${METHOD_LABELS.join(', ')})`);
  const bad = items.find((item) => !(METHOD_LABELS as readonly string[]).includes(item));
  if (bad !== undefined) throw new OptionError(`${where}: expected methods among ${METHOD_LABELS.join(', ')}, got ${describe(bad)} in ${describe(value)}`);
  return [...new Set(items as MethodLabel[])];
}

function readEndpoint(value: unknown, where: string): Endpoint {
  const match = typeof value === 'string' ? /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(value) : null;
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) throw new OptionError(`${where}: expected HOST:PORT (port 1-65535), got ${describe(value)}`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

function readEndpointOrOff(value: unknown, where: string): Endpoint | null {
  return value === 'off' || value === false ? null : readEndpoint(value, where);
}

function readPrefix(value: unknown, where: string): string {
  if (typeof value === 'string' && /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(value)) return value;
  throw new OptionError(`${where}: expected a metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*), got ${describe(value)}`);
}

function readBuckets(value: unknown, where: string): number[] {
  const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(items)) throw new OptionError(`${where}: expected a list of seconds, got ${describe(value)}`);
  const bounds = items.map((item) => (typeof item === 'string' && item !== '' ? Number(item) : typeof item === 'number' ? item : NaN));
  const problem = bucketListProblem(bounds);
  if (problem) throw new OptionError(`${where}: ${problem}, got ${describe(value)}`);
  return bounds;
}

function readNumber(min: number, max: number): Reader<number> {
  return (value, where) => {
    const number = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    if (!(number >= min && number <= max)) throw new OptionError(`${where}: expected a number from ${min} to ${max}, got ${describe(value)}`);
    return number;
  };
}

function readInteger(min: number, max: number): Reader<number> {
  const readRange = readNumber(min, max);
  return (value, where) => {
    const number = readRange(value, where);
    if (!Number.isInteger(number)) throw new OptionError(`${where}: expected a whole number, got ${describe(value)}`);
    return number;
  };
}
