// Requests to the stand's own endpoints, which all speak HTTPS with the stand's CA and ask for its user
// (role tls_auth): the CA and the password come from the inventory's secrets directory, as site.yml made
// them. Plain http:// URLs (nginx's demo site) are fetched as they are.
import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'

let secrets = null

/** The secrets directory site.yml keeps beside an inventory: <inventory dir>/secrets. */
export const secretsDirOf = (inventoryFile) => path.join(path.dirname(inventoryFile), 'secrets')

/**
 * From now on, requests trust the CA in `dir` and send `user` with the password in `dir`. Throws, saying
 * what to run, when the files are not there. Returns { dir, caFile, ca, user, password }.
 */
export function useStandSecrets(dir, user) {
  const caFile = path.join(dir, 'ca.crt')
  const passwordFile = path.join(dir, 'admin.password')
  const missing = [caFile, passwordFile].filter((file) => !existsSync(file))
  if (missing.length > 0) {
    throw new Error(`no ${missing.join(' or ')}: the stand's CA and password are made by ansible-playbook site.yml, beside its inventory (or pass --secrets DIR)`)
  }
  secrets = { dir, caFile, ca: readFileSync(caFile), user, password: readFileSync(passwordFile, 'utf8').trim() }
  return secrets
}

export const standSecrets = () => secrets

/**
 * GET `url`; resolves with { status, headers, text }. https: verified against the stand's CA, with its
 * user's credentials unless `credentials` is false (or another { user, password }). Rejects on a network
 * or TLS error, with its code.
 */
export function standGet(url, { timeoutMs = 30_000, credentials = true } = {}) {
  const target = new URL(url)
  const secure = target.protocol === 'https:'
  if (secure && !secrets) throw new Error(`${url}: the stand's secrets are not loaded (useStandSecrets)`)
  const login = credentials === true ? secrets && { user: secrets.user, password: secrets.password } : credentials || null
  const headers = login ? { authorization: `Basic ${Buffer.from(`${login.user}:${login.password}`).toString('base64')}` } : {}
  const options = { headers, timeout: timeoutMs, ...(secure ? { ca: secrets.ca } : {}) }
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).get(target, options, (response) => {
      const chunks = []
      response.on('data', (chunk) => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }))
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(Object.assign(new Error(`no answer from ${url} within ${timeoutMs / 1000} s`), { code: 'TIMEOUT' })))
    request.on('error', reject)
  })
}

/** GET `url` and parse its JSON; { status, body } (body null when it is not JSON). */
export async function standGetJson(url, options) {
  const response = await standGet(url, options)
  let body = null
  try {
    body = JSON.parse(response.text)
  } catch {
    // left null: the caller reports the status
  }
  return { status: response.status, body }
}
