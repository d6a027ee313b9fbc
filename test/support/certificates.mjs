// Throw-away certificates for the tests that serve TLS on loopback or at the lab's bridge: an EC CA, and
// server certificates it signs, made with openssl in a directory of the test's.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** openssl with `args`, run in `dir`; returns its standard output. */
export function openssl(dir, args) {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `<name>.crt` and `<name>.key` in `dir`: an EC key and its certificate, self-signed or signed by `signer`. */
function issue(dir, { name, subject, days, signer = null, extensions }) {
  mkdirSync(dir, { recursive: true });
  const signedBy = signer ? ['-CA', signer.cert, '-CAkey', signer.key] : [];
  openssl(dir, [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    String(days),
    '-subj',
    `/CN=${subject}`,
    ...signedBy,
    ...extensions.flatMap((extension) => ['-addext', extension]),
  ]);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/**
 * A CA in `dir`: `<name>.crt` and `<name>.key`, valid `days`, its subject `CN=<subject>`.
 * @param {string} dir
 * @param {{ name: string, subject: string, days: number }} options
 * @returns {{ cert: string, key: string }} the files' paths
 */
export function makeCa(dir, { name, subject, days }) {
  return issue(dir, {
    name,
    subject,
    days,
    extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
  });
}

/**
 * A server certificate in `dir` for the IP address `host` (and localhost, when it is 127.0.0.1), signed by
 * `ca` (files, as makeCa returns them): `<name>.crt` and `<name>.key`, valid `days`.
 * @param {string} dir
 * @param {{ name: string, ca: { cert: string, key: string }, days: number, host?: string }} options
 * @returns {{ cert: string, key: string }} the files' paths
 */
export function makeServerCertificate(dir, { name, ca, days, host = '127.0.0.1' }) {
  return issue(dir, {
    name,
    subject: host,
    days,
    signer: ca,
    extensions: [
      `subjectAltName=${host === '127.0.0.1' ? `IP:${host},DNS:localhost` : `IP:${host}`}`,
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
    ],
  });
}
