// One client for the stand, made once from its inventory and its secrets: every call the scripts and the
// e2e checks make to the stand goes through it. HTTPS to the stand's own endpoints (role tls_auth: its CA,
// its user and password, as site.yml made them beside the inventory), Prometheus' HTTP API over that, and
// commands on a host over SSH as Ansible logs in (sudo where Ansible would become). Plain http:// URLs
// (nginx's demo site) are fetched as they are.
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { $ } from 'zx';
import { readInventory } from './inventory.mjs';
import { prometheusApi } from './prometheus-api.mjs';

/** The secrets directory site.yml keeps beside an inventory: <inventory dir>/secrets. */
export const secretsDirOf = (inventoryFile) => path.join(path.dirname(inventoryFile), 'secrets');

// role stand's stand_web_user, for a stand reached without an inventory
const DEFAULT_WEB_USER = 'admin';

/**
 * The stand's CA and credentials in `dir`: { dir, caFile, ca, passwordFile, user, password }. Throws,
 * saying what to run, when the files are not there.
 */
export function readStandSecrets(dir, user) {
  const caFile = path.join(dir, 'ca.crt');
  const passwordFile = path.join(dir, 'admin.password');
  const missing = [caFile, passwordFile].filter((file) => !existsSync(file));
  if (missing.length > 0) {
    throw new Error(
      `no ${missing.join(' or ')}: the stand's CA and password are made by ansible-playbook site.yml, beside its inventory (or pass --secrets DIR)`,
    );
  }
  return {
    dir,
    caFile,
    ca: readFileSync(caFile),
    passwordFile,
    user,
    password: readFileSync(passwordFile, 'utf8').trim(),
  };
}

/**
 * The client of a stand. `inventory`: readInventory's answer, or null for a stand given by URLs alone;
 * `secretsDir`: where its CA and password are. The stand's user is the inventory's (stand_web_user).
 */
export function standClient({ inventory = null, secretsDir }) {
  const secrets = readStandSecrets(secretsDir, inventory?.prometheus[0].vars.stand_web_user ?? DEFAULT_WEB_USER);
  const authorization = `Basic ${Buffer.from(`${secrets.user}:${secrets.password}`).toString('base64')}`;
  const client = {
    inventory,
    secrets,
    /** The Authorization header of the stand's user, for requests made elsewhere (a host's python3, a browser). */
    authorization,

    /**
     * `method` `url`, with `json` (a value) as its JSON body when given; resolves with { status, headers, text }.
     * https: verified against the stand's CA, with its user's credentials unless `credentials` is false. Rejects
     * on a network or TLS error, with its code.
     * @param {string} method
     * @param {string | URL} url
     * @param {{ json?: unknown, timeoutMs?: number, credentials?: boolean }} [options]
     */
    request(method, url, { json, timeoutMs = 30_000, credentials = true } = {}) {
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      const headers = {
        ...(credentials ? { authorization } : {}),
        ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
      };
      const options = { method, headers, timeout: timeoutMs, ...(secure ? { ca: secrets.ca } : {}) };
      return new Promise((resolve, reject) => {
        const request = (secure ? https : http).request(target, options, (response) => {
          const chunks = [];
          response.on('data', (chunk) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode,
              headers: response.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          response.on('error', reject);
        });
        request.on('timeout', () =>
          request.destroy(
            Object.assign(new Error(`no answer from ${url} within ${timeoutMs / 1000} s`), { code: 'TIMEOUT' }),
          ),
        );
        request.on('error', reject);
        request.end(json !== undefined ? JSON.stringify(json) : undefined);
      });
    },

    /** GET `url`: request('GET', url, options). */
    get: (url, options) => client.request('GET', url, options),

    /** GET `url` and parse its JSON; { status, body } (body null when it is not JSON). */
    async getJson(url, options) {
      const response = await client.get(url, options);
      let body = null;
      try {
        body = JSON.parse(response.text);
      } catch {
        // left null: the caller reports the status
      }
      return { status: response.status, body };
    },

    /** The HTTP API of the Prometheus (or, with its `engine`, VictoriaMetrics) at `base`. */
    prometheus: (base, engine) => prometheusApi(client, base, engine),

    /**
     * `words` run on an inventory host over SSH, as Ansible logs in; `root`: through sudo where Ansible would
     * become. `input` goes to the command's standard input (scripts, and any secret, never on a command line).
     * @param {{ ssh: string[], sudo: string[] }} host
     * @param {string[]} words
     * @param {{ input?: string, root?: boolean }} [options]
     */
    onHost: (host, words, { input, root = false } = {}) =>
      $({ input, quiet: true })`ssh ${host.ssh} ${root ? host.sudo : []} ${words}`,
  };
  return client;
}

/**
 * The client of the stand an inventory file describes: the inventory read as the playbook resolves it (`model`:
 * its resolved stand, when the caller has it), the secrets beside it unless `secretsDir` says.
 */
/** @param {{ inventoryFile: string, model?: object, secretsDir?: string }} options */
export function standClientFor({ inventoryFile, model, secretsDir = secretsDirOf(inventoryFile) }) {
  return standClient({ inventory: readInventory(inventoryFile, model), secretsDir });
}
