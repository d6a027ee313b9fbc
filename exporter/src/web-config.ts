// The web config file of Prometheus' exporters (exporter-toolkit's format), read by --web-config: HTTPS,
// basic auth and extra headers of the /metrics listener. Only what av-exporter does is accepted; every
// other key is refused by name, so a file written for another exporter never silently weakens security.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createSecureContext, type SecureVersion } from 'node:tls';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { OptionError } from './options.js';

export interface WebTls {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  minVersion: SecureVersion;
}

export interface WebConfig {
  file: string;
  /** null: plain HTTP */
  tls: WebTls | null;
  /** User name → bcrypt hash; empty: no basic auth. */
  users: ReadonlyMap<string, string>;
  /** Set on every answer. */
  headers: Readonly<Record<string, string>>;
}

const TLS_VERSIONS: Record<string, SecureVersion> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };
const CLIENT_AUTH_TYPES = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'];
/** The headers exporter-toolkit lets a web config set, and the values (any case) it accepts for some. */
const HEADERS: Record<string, string[] | null> = {
  'Content-Security-Policy': null,
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-Content-Type-Options': ['nosniff'],
  'X-XSS-Protection': null,
  'Strict-Transport-Security': null,
};
const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const MIN_BCRYPT_COST = 4;
/**
 * Each step doubles a check's time: cost 10 takes about 60 ms, 14 about 1 s, 31 days. exporter-toolkit's
 * users pick 10 to 12; a cost past this would let a few wrong passwords keep the bcrypt workers busy.
 */
export const MAX_BCRYPT_COST = 14;

/** exporter-toolkit keys that av-exporter refuses, and why. Values of `secret` keys are never echoed. */
interface Refused {
  why: string;
  secret?: boolean;
}
const NO_CLIENT_CERTS = 'av-exporter checks no client certificates';
const TOP_KEYS = ['tls_server_config', 'basic_auth_users', 'http_server_config'];
const TOP_REFUSED: Record<string, Refused> = { rate_limit: { why: 'no rate limiting' } };
const TLS_KEYS = ['cert_file', 'key_file', 'min_version', 'client_auth_type'];
const TLS_REFUSED: Record<string, Refused> = {
  cert: { why: 'give the certificate as cert_file', secret: true },
  key: { why: 'give the key as key_file', secret: true },
  client_ca: { why: NO_CLIENT_CERTS, secret: true },
  client_ca_file: { why: NO_CLIENT_CERTS },
  client_allowed_sans: { why: NO_CLIENT_CERTS },
  max_version: { why: 'the highest version Node.js offers (TLS13) is always allowed' },
  cipher_suites: { why: "Node.js' default cipher suites are used" },
  prefer_server_cipher_suites: { why: "Node.js' default cipher suites are used" },
  curve_preferences: { why: "Node.js' default curves are used" },
};
const HTTP_KEYS = ['headers', 'http2'];

/** Says where a key is in the file: `FILE, line L, column C`. */
type Where = (path: readonly string[]) => string;

/** Reads and checks the web config file, and loads its certificate and key into a TLS context. */
export function loadWebConfig(file: string): WebConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new OptionError(`web config file ${file}: ${(error as Error).message}`);
  }
  const lines = new LineCounter();
  const parsed = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const [syntaxError] = parsed.errors;
  if (syntaxError) {
    // only the parser's own words, cut before any quote of the text: the line may hold a password
    const { line, col } = lines.linePos(syntaxError.pos[0]);
    const words = syntaxError.message.split(':')[0]!.trim();
    throw new OptionError(`web config file ${file}, line ${line}, column ${col}: not valid YAML: ${words} (the line is not shown: it may hold a secret)`);
  }
  const where: Where = (path) => `${file}, ${locate(parsed, lines, path)}`;
  const document: unknown = parsed.toJS();
  const at = (key: string) => `${key} in ${where([key])}`;
  if (document === null || document === undefined) return { file, tls: null, users: new Map(), headers: {} };
  const top = mapping(document, `web config file ${where([])}`);
  checkKeys(top, where, [], TOP_KEYS, TOP_REFUSED);

  const tls = 'tls_server_config' in top ? readTls(mapping(top.tls_server_config, at('tls_server_config')), file, where) : null;
  const users = readUsers(top.basic_auth_users, where);
  const http = mapping(top.http_server_config ?? {}, at('http_server_config'));
  checkKeys(http, where, ['http_server_config'], HTTP_KEYS, {});
  if (http.http2 !== undefined && http.http2 !== false) {
    throw new OptionError(`http_server_config.http2 in ${where(['http_server_config', 'http2'])}: not supported by av-exporter (it serves HTTP/1.1): only false is accepted, got ${describe(http.http2)}`);
  }
  return { file, tls, users, headers: readHeaders(http.headers, where) };
}

/** The line and column of the key at `path` (of its nearest ancestor present), 1-based. */
function locate(document: Document, lines: LineCounter, path: readonly string[]): string {
  let node: unknown = document.contents;
  let offset = 0;
  for (const key of path) {
    if (!isMap(node)) break;
    const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
    if (!pair) break;
    offset = isScalar(pair.key) && pair.key.range ? pair.key.range[0] : offset;
    node = pair.value;
  }
  const { line, col } = lines.linePos(offset);
  return `line ${line}, column ${col}`;
}

/** What deserves a warning in a config that loads: it leaves /metrics open to anyone. */
export function webConfigWarnings(web: WebConfig): string[] {
  if (web.users.size > 0 && !web.tls) return [`web config ${web.file}: basic auth without tls_server_config sends passwords in clear text`];
  if (web.tls || web.users.size > 0) return [];
  return [`web config ${web.file} sets neither tls_server_config nor basic_auth_users: /metrics is served over PLAIN HTTP WITHOUT A PASSWORD to anyone who can reach it`];
}

/** One line for the log and --check-config. */
export function describeWeb(web: WebConfig): string {
  const parts = [web.tls ? `HTTPS (${web.tls.certFile}, from ${web.tls.minVersion})` : 'plain HTTP'];
  if (web.users.size > 0) parts.push(`basic auth for ${web.users.size} user${web.users.size === 1 ? '' : 's'}`);
  const headers = Object.keys(web.headers);
  if (headers.length > 0) parts.push(`headers ${headers.join(', ')}`);
  return parts.join(', ');
}

function readTls(config: Record<string, unknown>, file: string, where: Where): WebTls {
  const at = (key: string) => `tls_server_config.${key} in ${where(['tls_server_config', key])}`;
  checkKeys(config, where, ['tls_server_config'], TLS_KEYS, TLS_REFUSED);
  const clientAuth = config.client_auth_type ?? 'NoClientCert';
  if (clientAuth !== 'NoClientCert') {
    const why = CLIENT_AUTH_TYPES.includes(clientAuth as string)
      ? `not supported by av-exporter (${NO_CLIENT_CERTS}): only NoClientCert is accepted`
      : `expected NoClientCert (the only one av-exporter supports)`;
    throw new OptionError(`${at('client_auth_type')}: ${why}, got ${describe(clientAuth)}`);
  }
  const version = config.min_version ?? 'TLS12';
  const minVersion = typeof version === 'string' ? TLS_VERSIONS[version] : undefined;
  if (!minVersion) throw new OptionError(`${at('min_version')}: expected ${Object.keys(TLS_VERSIONS).join(', ')}, got ${describe(version)}`);

  // Relative paths are relative to the web config file's directory, as in exporter-toolkit.
  const readPem = (key: 'cert_file' | 'key_file') => {
    const value = config[key];
    if (value === undefined) throw new OptionError(`${at(key)}: missing: tls_server_config needs cert_file and key_file`);
    if (typeof value !== 'string' || value.trim() === '') throw new OptionError(`${at(key)}: expected a file name, got ${describe(value)}`);
    const path = resolve(dirname(file), value);
    try {
      return { path, pem: readFileSync(path) };
    } catch (error) {
      throw new OptionError(`${at(key)}: cannot read ${describe(value)}: ${(error as Error).message}`);
    }
  };
  const cert = readPem('cert_file');
  const key = readPem('key_file');
  try {
    createSecureContext({ cert: cert.pem, key: key.pem, minVersion });
  } catch (error) {
    throw new OptionError(`tls_server_config in ${where(['tls_server_config'])}: cert_file ${describe(cert.path)} and key_file ${describe(key.path)} are not a usable certificate and key: ${(error as Error).message}`);
  }
  return { certFile: cert.path, keyFile: key.path, cert: cert.pem, key: key.pem, minVersion };
}

function readUsers(value: unknown, where: Where): Map<string, string> {
  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(mapping(value, `basic_auth_users in ${where(['basic_auth_users'])}`))) {
    const at = `basic_auth_users.${user} in ${where(['basic_auth_users', user])}`;
    if (user.includes(':')) throw new OptionError(`${at}: a user name cannot contain ":" (Basic credentials are user:password), got ${describe(user)}`);
    if (typeof hash !== 'string' || !BCRYPT_HASH.test(hash)) {
      throw new OptionError(`${at}: expected a bcrypt hash ($2a$, $2b$ or $2y$, as htpasswd -nBC 10 "" makes), got ${describeSecret(hash)}`);
    }
    const cost = Number(hash.slice(4, 6));
    if (cost < MIN_BCRYPT_COST || cost > MAX_BCRYPT_COST) {
      throw new OptionError(`${at}: expected a bcrypt cost from ${String(MIN_BCRYPT_COST).padStart(2, '0')} to ${MAX_BCRYPT_COST} (10 to 12 is usual), got a hash of cost ${cost}: ` +
        `each step doubles the time of every check, and a costly one lets a few wrong passwords hold up the exporter`);
    }
    users.set(user, hash);
  }
  return users;
}

function readHeaders(value: unknown, where: Where): Record<string, string> {
  const headers: Record<string, string> = {};
  const path = ['http_server_config', 'headers'];
  for (const [name, text] of Object.entries(mapping(value, `http_server_config.headers in ${where(path)}`))) {
    const at = `http_server_config.headers.${name} in ${where([...path, name])}`;
    if (!(name in HEADERS)) throw new OptionError(`web config file ${where([...path, name])}: unknown header "${name}" in http_server_config.headers (known: ${Object.keys(HEADERS).join(', ')})`);
    if (typeof text !== 'string' || /[\x00-\x08\x0a-\x1f\x7f]/.test(text)) throw new OptionError(`${at}: expected a one-line string, got ${describe(text)}`);
    const accepted = HEADERS[name];
    if (text !== '' && accepted && !accepted.includes(text.toLowerCase())) throw new OptionError(`${at}: expected ${accepted.join(' or ')} (or blank), got ${describe(text)}`);
    if (text !== '') headers[name] = text; // blank: unset, as in exporter-toolkit
  }
  return headers;
}

function checkKeys(config: Record<string, unknown>, where: Where, parents: string[], known: string[], refused: Record<string, Refused>): void {
  const prefix = parents.map((parent) => `${parent}.`).join('');
  for (const [key, value] of Object.entries(config)) {
    if (known.includes(key)) continue;
    const reason = refused[key];
    const location = where([...parents, key]);
    if (!reason) throw new OptionError(`web config file ${location}: unknown key "${prefix}${key}" (known: ${known.join(', ')})`);
    throw new OptionError(`${prefix}${key} in ${location}: not supported by av-exporter (${reason.why}), got ${reason.secret ? describeSecret(value) : describe(value)}`);
  }
}

function mapping(value: unknown, where: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new OptionError(`${where}: expected a mapping, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** What a value that may be a password or a key is, without showing it. */
function describeSecret(value: unknown): string {
  if (typeof value !== 'string') return value === null ? 'null' : `a ${Array.isArray(value) ? 'list' : typeof value}`;
  const scheme = /^\$[0-9a-z]{1,8}\$/i.exec(value)?.[0];
  return `a string of ${value.length} characters${scheme ? ` starting ${describe(scheme)}` : ''} (not shown: it may be a secret)`;
}
