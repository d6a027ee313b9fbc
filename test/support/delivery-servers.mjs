// Where Alertmanager's notifications go outside the stand, as real servers: an SMTP relay as a company runs
// one (Debian's python3-aiosmtpd: STARTTLS required, then AUTH PLAIN with a password), and one HTTPS
// endpoint that records every request: a webhook receiver behind basic auth or a bearer token, Slack's
// incoming webhooks and Telegram's Bot API (getMe, sendMessage), each path answering as that service does.
// Both listen on `host`: 127.0.0.1 in test/alert-delivery.test.mjs, the lab bridge's 10.77.0.1 for the e2e,
// with a certificate for that address from a throwaway CA or from the stand's own (which every host trusts
// already, as stand_web_ca_file). The checks of what Slack and Telegram would accept are here too, for both.
// Every process is stopped by its pid.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../scripts/lib/ports.mjs';
import { pollUntil } from '../../scripts/lib/wait.mjs';
import { makeCa, makeServerCertificate } from './certificates.mjs';
import { startProcess } from './local-prometheus.mjs';

/**
 * A server certificate for `host` (an IP address) in `dir`, signed by `ca` ({ cert, key } files: the stand's
 * secrets/ca.crt and ca.key) or by a throwaway CA made here. Returns { caFile, certFile, keyFile }.
 */
export function serverCertificate(dir, { host = '127.0.0.1', ca = null } = {}) {
  mkdirSync(dir, { recursive: true });
  const signer = ca ?? makeCa(dir, { name: 'delivery-ca', subject: 'alert delivery test CA', days: 1 });
  const { cert, key } = makeServerCertificate(dir, { name: 'delivery', ca: signer, days: 1, host });
  return { caFile: signer.cert, certFile: cert, keyFile: key };
}

/** Waits until `items()` (what a server received so far) holds one that `predicate` accepts; resolves with it. */
export function waitFor(items, predicate, { seconds = 20, what = 'a delivery' } = {}) {
  return pollUntil(() => items().find(predicate), {
    seconds,
    intervalMs: 100,
    onTimeout: () => {
      throw new Error(
        `no ${what} within ${seconds} s; got ${items().length}:\n${JSON.stringify(items(), null, 1).slice(0, 4000)}`,
      );
    },
  });
}

// The relay: every message as one JSON line on stdout, read by the MIME parser of Python's email package.
const SMTP_RELAY = String.raw`
import json, signal, ssl, sys
from email import message_from_bytes, policy
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

host, port, cert, key, user, password = sys.argv[1:7]
tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)

def authenticator(server, session, envelope, mechanism, auth_data):
    good = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
    if good:
        session.av_login = (mechanism, user)
    return AuthResult(success=good)

class Relay:
    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        part = lambda kind: (message.get_body((kind,)) or None) and message.get_body((kind,)).get_content()
        print(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos, "starttls": session.ssl is not None,
                          "auth": getattr(session, "av_login", None), "subject": str(message["subject"]),
                          "text": part("plain"), "html": part("html")}), flush=True)
        return "250 OK"

# AUTH PLAIN only: aiosmtpd's LOGIN challenges with "User Name", not the "Username:" of Postfix and Exchange
# that Alertmanager's LOGIN expects
relay = Controller(Relay(), hostname=host, port=int(port), tls_context=tls, require_starttls=True,
                   auth_required=True, auth_require_tls=True, authenticator=authenticator,
                   auth_exclude_mechanism=["LOGIN"])
relay.start()
print("ready", flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])
relay.stop()
`;

/**
 * The SMTP relay on `host` (Debian's /usr/bin/python3 with python3-aiosmtpd): STARTTLS with `certFile`, then
 * AUTH as `user` with `password`, before any mail. Resolves with { smarthost, messages(), stop() }; each message
 * is { from, to, starttls, auth: [mechanism, user], subject, text, html }.
 */
export async function startSmtpRelay({
  host = '127.0.0.1',
  port = null,
  certFile,
  keyFile,
  user = 'alertmanager',
  password,
}) {
  const listen = port ?? (await freePort());
  const proc = await startProcess(
    'SMTP relay (aiosmtpd)',
    '/usr/bin/python3',
    ['-c', SMTP_RELAY, host, String(listen), certFile, keyFile, user, password],
    () => greets(host, listen),
    { seconds: 20 },
  );
  const messages = () =>
    proc
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
  return { smarthost: `${host}:${listen}`, user, messages, ...proc };
}

/** Whether an SMTP server at host:port answers with its 220 greeting. */
const greets = (host, port) =>
  new Promise((resolve) => {
    const socket = connect(port, host);
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
    socket.once('data', (data) => {
      socket.end('QUIT\r\n');
      resolve(data.toString().startsWith('220'));
    });
  });

/** Whether a request's Authorization header is what `auth` asks: { basic: [user, password] } or { bearer: token }. */
function authorized(auth, header = '') {
  if (!auth) return true;
  if (auth.basic) return header === `Basic ${Buffer.from(auth.basic.join(':')).toString('base64')}`;
  return header === `Bearer ${auth.bearer}`;
}

/**
 * One HTTPS endpoint on `host` recording every request ({ method, path, headers, body, json, status, at (s), from
 * (the client's address) }), `requests()`:
 * `routes` maps a path prefix to { auth, answer(request) → { status, type, body } }; an unknown path gets 404,
 * a wrong password 401. Resolves with { url, requests(), stop() }.
 */
export async function startHttpsEndpoint({ host = '127.0.0.1', port = null, certFile, keyFile, routes }) {
  const received = [];
  const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try {
        json = JSON.parse(body);
      } catch {
        /* not JSON: recorded as it came */
      }
      const request = {
        method: req.method,
        path: req.url,
        headers: req.headers,
        body,
        json,
        at: Date.now() / 1000,
        from: req.socket.remoteAddress,
      };
      const [, route] = Object.entries(routes).find(([prefix]) => req.url.startsWith(prefix)) ?? [];
      const answer = !route
        ? { status: 404, body: 'no such endpoint\n' }
        : !authorized(route.auth, req.headers.authorization)
          ? { status: 401, body: 'unauthorized\n' }
          : route.answer
            ? route.answer(request)
            : { status: 200, body: 'ok\n' };
      request.status = answer.status;
      received.push(request);
      res.writeHead(answer.status, { 'content-type': answer.type ?? 'text/plain; charset=utf-8' }).end(answer.body);
    });
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port ?? 0, host, () => resolve(null)));
  const url = `https://${host}:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`;
  return {
    url,
    requests: () => received,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

/** Telegram's answers: getMe (a bot), sendMessage (the message sent, in the chat it names). */
function telegramAnswer(request) {
  const ok = (result) => ({ status: 200, type: 'application/json', body: JSON.stringify({ ok: true, result }) });
  if (/\/getMe$/.test(request.path))
    return ok({ id: 1, is_bot: true, first_name: 'av-stand', username: 'av_stand_bot' });
  if (!/\/sendMessage$/.test(request.path))
    return { status: 404, type: 'application/json', body: '{"ok":false,"error_code":404,"description":"Not Found"}' };
  const problems = telegramSendMessageProblems(request.json);
  if (problems.length > 0)
    return {
      status: 400,
      type: 'application/json',
      body: JSON.stringify({ ok: false, error_code: 400, description: `Bad Request: ${problems.join('; ')}` }),
    };
  return ok({
    message_id: 1,
    date: Math.floor(Date.now() / 1000),
    chat: { id: Number(request.json.chat_id), type: 'group' },
    text: request.json.text,
  });
}

/**
 * The servers a team's receivers would reach, on `host`, with a fresh password, token and bearer each:
 * smtp (the relay), https (one endpoint: /webhook/basic, /webhook/bearer, /slack/..., /telegram/bot<token>/...).
 * `ca` signs their certificate (default: a throwaway CA in `dir`). Resolves with { caFile, smtp, https,
 * secrets, stop() }.
 */
export async function startDeliveryServers({ dir, host = '127.0.0.1', ca = null }) {
  const tls = serverCertificate(dir, { host, ca });
  const secret = () => randomBytes(12).toString('hex');
  const secrets = {
    smtpPassword: secret(),
    webhookPassword: secret(),
    webhookToken: secret(),
    telegramToken: `123456:${secret()}`,
    slackPath: `/slack/services/T0001/B0001/${secret()}`,
  };
  const smtp = await startSmtpRelay({ host, ...tls, password: secrets.smtpPassword });
  const https = await startHttpsEndpoint({
    host,
    ...tls,
    routes: {
      '/webhook/basic': { auth: { basic: ['alertmanager', secrets.webhookPassword] } },
      '/webhook/bearer': { auth: { bearer: secrets.webhookToken } },
      // Slack answers an incoming webhook's good payload with "ok", a bad one with 400 and the reason
      [secrets.slackPath]: {
        answer: (request) => {
          const problems = slackPayloadProblems(request.json);
          return problems.length ? { status: 400, body: problems.join('; ') } : { status: 200, body: 'ok' };
        },
      },
      [`/telegram/bot${secrets.telegramToken}/`]: { answer: telegramAnswer },
    },
  }).catch(async (error) => {
    await smtp.stop();
    throw error;
  });
  return {
    ...tls,
    smtp,
    https,
    secrets,
    stop: async () => {
      await https.stop();
      await smtp.stop();
    },
  };
}

/**
 * The inventory values for receivers that reach these servers: `oncall` (mail, and both webhooks), `chat`
 * (Slack, Telegram; critical alerts only) and the route tree that sends them there. The webhooks' secrets are
 * written into files under `secretsDir` when given (Alertmanager's *_file settings: the files must be on the
 * Alertmanager host), else given inline as a vault would; the others are inline. `caFile` is the CA as the
 * Alertmanager host has it.
 */
export function deliveryInventoryVars(
  servers,
  { caFile = servers.caFile, secretsDir = null, chatId = -1001234567890 } = {},
) {
  const { smtp, https, secrets } = servers;
  const file = (name, value) => {
    writeFileSync(join(secretsDir, name), `${value}\n`, { mode: 0o600 });
    return join(secretsDir, name);
  };
  const secretOf = (key, name, value) => (secretsDir ? { [`${key}_file`]: file(name, value) } : { [key]: value });
  const trust = { tls_config: { ca_file: caFile } };
  return {
    // auth_password inline (from a vault): Debian 12's Alertmanager 0.25 never sends a mail with auth_password_file
    alertmanager_smtp: {
      from: 'alertmanager@stand.example',
      smarthost: smtp.smarthost,
      auth_username: smtp.user,
      auth_password: secrets.smtpPassword,
      require_tls: true,
    },
    alertmanager_slack_api_url: `${https.url}${secrets.slackPath}`,
    alertmanager_receivers: [
      {
        name: 'oncall',
        email_configs: [{ to: 'oncall@team.example', ...trust }],
        webhook_configs: [
          {
            url: `${https.url}/webhook/basic`,
            http_config: {
              basic_auth: {
                username: 'alertmanager',
                ...secretOf('password', 'webhook.password', secrets.webhookPassword),
              },
              ...trust,
            },
          },
          {
            url: `${https.url}/webhook/bearer`,
            http_config: {
              authorization: { type: 'Bearer', ...secretOf('credentials', 'webhook.token', secrets.webhookToken) },
              ...trust,
            },
          },
        ],
      },
      {
        name: 'chat',
        slack_configs: [{ channel: '#oncall', http_config: trust }],
        // bot_token_file needs Alertmanager 0.26 (Debian 13): the token is given inline, as from a vault
        telegram_configs: [
          { api_url: `${https.url}/telegram`, bot_token: secrets.telegramToken, chat_id: chatId, http_config: trust },
        ],
      },
    ],
    alertmanager_route: {
      receiver: 'oncall',
      routes: [{ receiver: 'chat', matchers: ['severity="critical"'], continue: true }, { receiver: 'oncall' }],
    },
  };
}

const SLACK_COLORS = /^(good|warning|danger|#[0-9a-fA-F]{6})$/;

/**
 * What Slack's incoming webhooks would refuse, or show broken, in `payload` (Slack's "Formatting text" and
 * "Legacy secondary attachments"): a JSON object with text, attachments or blocks; each attachment's fallback,
 * a known color, an absolute title_link; in mrkdwn text, & < > escaped and every <...> a link or mention.
 */
export function slackPayloadProblems(payload) {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return ['the body is not a JSON object'];
  const problems = [];
  if (!payload.text && !Array.isArray(payload.attachments) && !Array.isArray(payload.blocks))
    problems.push('neither text, attachments nor blocks');
  if (payload.channel !== undefined && !/^[#@]?[\w.-]+$/.test(payload.channel))
    problems.push(`channel ${payload.channel}`);
  const mrkdwn = (where, text) => {
    if (typeof text !== 'string') return problems.push(`${where} is not a string`);
    if (text.length > 40000) problems.push(`${where} is longer than 40000 characters`);
    for (const [, inner] of text.matchAll(/<([^>]*)>/g))
      if (!/^(https?:\/\/[^|\s]+(\|[^|]+)?|[!@#][\w^|-]+(\|[^|]+)?)$/.test(inner))
        problems.push(`${where}: <${inner}> is no link`);
    const bare = text.replace(/<[^<>]*>/g, '');
    if (/[<>]/.test(bare)) problems.push(`${where}: an unescaped < or >`);
    if (/&(?!(amp|lt|gt);)/.test(bare)) problems.push(`${where}: an unescaped &`);
    return 0;
  };
  if (typeof payload.text === 'string') mrkdwn('text', payload.text);
  for (const [i, attachment] of (payload.attachments ?? []).entries()) {
    if (!attachment.fallback) problems.push(`attachments[${i}] has no fallback`);
    if (attachment.color !== undefined && !SLACK_COLORS.test(attachment.color))
      problems.push(`attachments[${i}].color ${attachment.color}`);
    if (attachment.title_link !== undefined && !/^https?:\/\/\S+$/.test(attachment.title_link))
      problems.push(`attachments[${i}].title_link ${attachment.title_link}`);
    for (const field of attachment.mrkdwn_in ?? [])
      if (attachment[field] !== undefined) mrkdwn(`attachments[${i}].${field}`, attachment[field]);
  }
  return problems;
}

const TELEGRAM_TAGS = new Set([
  'b',
  'strong',
  'i',
  'em',
  'u',
  'ins',
  's',
  'strike',
  'del',
  'span',
  'tg-spoiler',
  'a',
  'code',
  'pre',
  'blockquote',
  'tg-emoji',
]);

/**
 * What Telegram's sendMessage would refuse in `params` (Bot API, "sendMessage" and "HTML style"): a chat_id,
 * a text of 1 to 4096 characters once its entities are parsed, a known parse_mode; in HTML, only the
 * supported tags, balanced, <a> with an href, and & only as &lt; &gt; &amp; &quot; or a numeric entity.
 */
export function telegramSendMessageProblems(params) {
  if (!params || typeof params !== 'object') return ['the body is not a JSON object'];
  const problems = [];
  if (!/^(-?\d+|@\w{5,})$/.test(String(params.chat_id ?? ''))) problems.push(`chat_id ${params.chat_id}`);
  if (params.parse_mode !== undefined && !['HTML', 'Markdown', 'MarkdownV2'].includes(params.parse_mode))
    problems.push(`parse_mode ${params.parse_mode}`);
  let text = typeof params.text === 'string' ? params.text : '';
  if (params.parse_mode === 'HTML') {
    const open = [];
    for (const [tag, closing, name, attributes] of text.matchAll(/<(\/?)([\w-]+)([^>]*)>/g)) {
      if (!TELEGRAM_TAGS.has(name)) problems.push(`unsupported tag ${tag}`);
      else if (closing) {
        if (open.pop() !== name) problems.push(`unbalanced ${tag}`);
      } else {
        open.push(name);
        if (name === 'a' && !/^\s+href="[^"<>]+"$/.test(attributes)) problems.push(`${tag}: an <a> needs an href`);
      }
    }
    if (open.length > 0) problems.push(`unclosed <${open.join('>, <')}>`);
    const bare = text.replace(/<[^>]*>/g, '');
    if (/[<>]/.test(bare)) problems.push('an unescaped < or >');
    if (/&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)/.test(bare))
      problems.push('an unescaped &, or an entity Telegram does not know');
    text = bare.replace(/&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);/g, '.');
  }
  if (text.trim().length === 0) problems.push('an empty text');
  if (text.length > 4096) problems.push(`a text of ${text.length} characters, more than 4096`);
  return problems;
}
