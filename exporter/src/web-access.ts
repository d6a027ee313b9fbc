// What the web config puts in front of every path of the /metrics listener: its headers, then basic auth.
import { createHash, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { RequestHandler, Response } from 'express';
import type { WebConfig } from './web-config.js';

export const REALM = 'av-exporter';
/** Successful checks remembered; past this many (only someone who knows a password gets there), forgotten. */
const MAX_REMEMBERED = 256;

export type PasswordCheck = (user: string, password: string) => Promise<boolean>;

export async function webHandlers(web: WebConfig): Promise<RequestHandler[]> {
  const handlers: RequestHandler[] = [];
  if (Object.keys(web.headers).length > 0) {
    handlers.push((_req, res, next) => {
      res.set(web.headers);
      next();
    });
  }
  if (web.users.size > 0) handlers.push(basicAuth(await passwordCheck(web.users)));
  return handlers;
}

/**
 * Checks passwords against bcrypt hashes. bcrypt takes tens of ms by design, so a successful check is
 * remembered, keyed by the user and a SHA-256 of the password (the password itself is never kept): a
 * scrape every few seconds pays bcrypt once.
 */
export async function passwordCheck(users: ReadonlyMap<string, string>): Promise<PasswordCheck> {
  const cost = Math.max(...[...users.values()].map((hash) => bcrypt.getRounds(hash)));
  // An unknown user is checked against this hash of the same cost, so the time of a refusal does not
  // tell whether the user exists.
  const unknownUser = await bcrypt.hash(randomBytes(24).toString('base64'), cost);
  const remembered = new Set<string>();
  return async (user, password) => {
    const key = `${user}:${createHash('sha256').update(password).digest('hex')}`;
    if (remembered.has(key)) return true;
    const hash = users.get(user);
    const matches = await bcrypt.compare(password, hash ?? unknownUser);
    if (!matches || hash === undefined) return false;
    if (remembered.size >= MAX_REMEMBERED) remembered.clear();
    remembered.add(key);
    return true;
  };
}

export function basicAuth(check: PasswordCheck): RequestHandler {
  return (req, res, next) => {
    const given = credentials(req.headers.authorization);
    if (!given) return refuse(res);
    check(given.user, given.password).then((ok) => (ok ? next() : refuse(res)), next);
  };
}

function credentials(header: string | undefined): { user: string; password: string } | null {
  const match = header === undefined ? null : /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function refuse(res: Response): void {
  res.status(401).set('WWW-Authenticate', `Basic realm="${REALM}"`).type('text/plain').send('401 Unauthorized: valid Basic credentials are needed\n');
}
