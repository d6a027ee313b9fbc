// What the web config puts in front of every path of the /metrics listener: its headers, then basic
// auth. The config can be swapped while serving (SIGHUP).
import { createHash, randomInt } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { RequestHandler, Response } from 'express';
import { BcryptWorkers } from './bcrypt-workers.js';
import type { WebConfig } from './web-config.js';

export const REALM = 'av-exporter';
/** Successful checks remembered; past this many (only someone who knows a password gets there), forgotten. */
const MAX_REMEMBERED = 256;
/**
 * bcrypt checks waiting or running at most, over all clients, and per client address. Past either a
 * request is refused at once (429): queueing it would only make every later check, Prometheus' among
 * them, wait longer. One per address keeps a flood from one host from taking every place.
 */
const MAX_CHECKS = 8;
const MAX_CHECKS_PER_ADDRESS = 1;
/** After a wrong password an address gets no bcrypt check for this long: a flood costs one check a second. */
const WRONG_PASSWORD_PAUSE_MS = 1000;
/** Addresses remembered in a pause at most; past it the oldest pauses are forgotten (cheap to forget, bounded memory). */
const MAX_PAUSED_ADDRESSES = 10_000;
/**
 * Refusals (401 after a check, 429) are answered after this: a client that retries at once then sends a
 * few requests a second instead of thousands, which keeps the event loop free for the scrapes.
 */
const REFUSAL_DELAY_MS = 250;

export type CheckResult = 'accepted' | 'refused' | 'busy';

/**
 * Checks passwords against bcrypt hashes, in worker threads. bcrypt takes tens of ms by design, so a
 * successful check is remembered, keyed by the user and a SHA-256 of the password (the password itself
 * is never kept): a scrape every few seconds pays bcrypt once, and is answered at once after that.
 */
export class PasswordChecker {
  private readonly remembered = new Set<string>();
  private readonly checking = new Map<string, number>();
  /** Address → until when (ms) it gets no check, after a wrong password. */
  private readonly paused = new Map<string, number>();
  private inFlight = 0;
  /** An unknown user is checked against this, so the time of a refusal does not tell whether the user exists. */
  private readonly unknownUser: string;

  constructor(private readonly users: ReadonlyMap<string, string>, private readonly workers: BcryptWorkers) {
    this.unknownUser = unmatchableHash(Math.max(...[...users.values()].map((hash) => bcrypt.getRounds(hash))));
  }

  async check(user: string, password: string, client = ''): Promise<CheckResult> {
    const key = `${user}:${createHash('sha256').update(password).digest('hex')}`;
    if (this.remembered.has(key)) return 'accepted';
    const fromClient = this.checking.get(client) ?? 0;
    if (this.inFlight >= MAX_CHECKS || fromClient >= MAX_CHECKS_PER_ADDRESS || this.isPaused(client)) return 'busy';
    this.inFlight++;
    this.checking.set(client, fromClient + 1);
    try {
      const hash = this.users.get(user);
      const matches = await this.workers.compare(password, hash ?? this.unknownUser);
      if (!matches || hash === undefined) {
        this.pause(client);
        return 'refused';
      }
    } finally {
      this.inFlight--;
      const left = (this.checking.get(client) ?? 1) - 1;
      if (left > 0) this.checking.set(client, left);
      else this.checking.delete(client);
    }
    if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
    this.remembered.add(key);
    return 'accepted';
  }

  private isPaused(client: string): boolean {
    const until = this.paused.get(client);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.paused.delete(client);
    return false;
  }

  private pause(client: string): void {
    if (this.paused.size >= MAX_PAUSED_ADDRESSES) this.paused.delete(this.paused.keys().next().value!);
    this.paused.delete(client); // re-inserted last: the map's order is the pauses' age
    this.paused.set(client, Date.now() + WRONG_PASSWORD_PAUSE_MS);
  }
}

/**
 * A well-formed bcrypt hash of `cost` that no password matches (its digest is random): checking against it
 * costs what a real check costs, yet making it costs nothing.
 */
function unmatchableHash(cost: number): string {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let rest = '';
  for (let i = 0; i < 53; i++) rest += alphabet[randomInt(alphabet.length)];
  return `$2b$${String(cost).padStart(2, '0')}$${rest}`;
}

/** The web config's headers and basic auth as one handler, whose config can be replaced while serving. */
export class WebAccess {
  private readonly workers = new BcryptWorkers();
  private headers: Readonly<Record<string, string>> = {};
  private checker: PasswordChecker | null = null;

  constructor(web: WebConfig) {
    this.update(web);
  }

  update(web: WebConfig): void {
    this.headers = web.headers;
    this.checker = web.users.size > 0 ? new PasswordChecker(web.users, this.workers) : null;
  }

  close(): Promise<void> {
    return this.workers.close();
  }

  readonly handler: RequestHandler = (req, res, next) => {
    res.set(this.headers);
    const checker = this.checker;
    if (!checker) return next();
    const given = credentials(req.headers.authorization);
    if (!given) return refuse(res);
    checker.check(given.user, given.password, req.socket.remoteAddress).then((result) => {
      if (result === 'accepted') return next();
      setTimeout(() => (result === 'busy' ? refuseBusy(res) : refuse(res)), REFUSAL_DELAY_MS);
    }, next);
  };
}

function credentials(header: string | undefined): { user: string; password: string } | null {
  const match = header === undefined ? null : /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function refuseBusy(res: Response): void {
  res.status(429).set('Retry-After', '1').type('text/plain').send('429 Too Many Requests: too many password checks under way, or a wrong password just now; try again\n');
}

function refuse(res: Response): void {
  res.status(401).set('WWW-Authenticate', `Basic realm="${REALM}"`).type('text/plain').send('401 Unauthorized: valid Basic credentials are needed\n');
}
