// The stand's hosts, read from an Ansible inventory (the lab's, or one for real VMs) as Ansible reads it,
// and how to reach them over SSH the way Ansible does: its connection variables, and sudo where it would become.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { hostsByKind, kindsOf, servicesOf, sharedVars, standGroups, standServices } from './catalogue.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const STAND_DEFAULTS = path.join(ROOT, 'roles/stand/defaults/main.yml')

// The shared values the script reads: role stand's defaults, or the inventory's (for all, a group or a host)
const SHARED_VALUES = ['stand_catalogue', 'stand_default_groups', 'stand_nginx_port', 'stand_prometheus_port', 'stand_av_exporter_port', 'stand_access_log_path', 'stand_web_user', 'stand_web_ca_file']

/**
 * Role stand's defaults that are plain values (not templates, which Ansible alone resolves: stand_groups and
 * stand_services are merged by catalogue.mjs as the role merges them).
 */
export function standDefaults() {
  const defaults = parseYaml(readFileSync(STAND_DEFAULTS, 'utf8')) ?? {}
  return Object.fromEntries(Object.entries(defaults).filter(([, value]) => !(typeof value === 'string' && value.includes('{{'))))
}

/**
 * An `ansible-inventory --list` with role stand's defaults under every host's own values, as site.yml sees
 * them: the inventory's value wins wherever it gives one.
 */
export function withStandDefaults(list, defaults = standDefaults()) {
  const hosts = new Set(Object.keys(list._meta?.hostvars ?? {}))
  for (const [name, group] of Object.entries(list)) if (name !== '_meta') for (const host of group.hosts ?? []) hosts.add(host)
  const hostvars = Object.fromEntries([...hosts].map((host) => [host, { ...defaults, ...list._meta?.hostvars?.[host] }]))
  return { ...list, _meta: { ...list._meta, hostvars } }
}

/**
 * `ansible-inventory --list` of `file`, so that INI, YAML, group_vars/ and host_vars/ beside the inventory
 * all count, with role stand's defaults under its values.
 */
export function listInventory(file) {
  if (!existsSync(file)) throw new Error(`cannot read the inventory ${file}: no such file (is the lab up? npx zx scripts/lab.mjs up)`)
  try {
    // an inventory Ansible cannot parse is an error, not an empty list and a warning
    const env = { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true' }
    return withStandDefaults(JSON.parse(execFileSync('ansible-inventory', ['-i', file, '--list', '--playbook-dir', ROOT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env })))
  } catch (error) {
    const said = String(error.stderr || error.message).replace(/\s+/g, ' ').trim()
    const why = error.code === 'ENOENT' ? 'ansible-inventory not found (bash scripts/prereqs.sh installs it)' : said.length > 600 ? `${said.slice(0, 600)} ...` : said
    throw new Error(`cannot read the inventory ${file}: ${why}`)
  }
}

/**
 * { prometheus: [host], nginx: [host], victoriametrics: [host], services } from an inventory: the members of
 * each kind's group (stand_groups; child groups included) and the catalogue. Each host: { name, address,
 * vars, kinds, services (the catalogue's, with this host's ports), ssh: [ssh arguments up to the command],
 * sudo: [] or ['sudo', '-n'] }; vars as Ansible merges them.
 */
export function readInventory(file, list = listInventory(file)) {
  const byKind = hostsByKind(list)
  const shared = sharedVars(list)
  const groups = standGroups(shared)
  const host = (name) => {
    const vars = list._meta?.hostvars?.[name] ?? {}
    const missing = SHARED_VALUES.filter((key) => vars[key] === undefined)
    if (missing.length > 0) throw new Error(`the inventory ${file} gives host ${name} no ${missing.join(', ')}: role stand's defaults (${STAND_DEFAULTS}) give them unless the inventory sets them empty`)
    const kinds = kindsOf(name, byKind)
    return { name, address: String(vars.ansible_host ?? name), vars, kinds, services: servicesOf(kinds, vars), ssh: sshArguments(name, vars), sudo: sudoPrefix(vars) }
  }
  const inventory = { prometheus: byKind.prometheus.map(host), nginx: byKind.nginx.map(host) }
  const empty = Object.keys(inventory).filter((kind) => inventory[kind].length === 0)
  if (empty.length > 0) throw new Error(`the inventory ${file} has no hosts in group ${empty.map((kind) => groups[kind] ?? kind).join(' and ')}`)
  inventory.victoriametrics = byKind.victoriametrics.map(host) // optional: the global view
  inventory.services = standServices(shared)
  return inventory
}

/** Every host of readInventory's answer once, in kind order (a host may be of several kinds). */
export function everyHost(inventory) {
  return [...new Map([...inventory.prometheus, ...inventory.nginx, ...inventory.victoriametrics].map((host) => [host.name, host])).values()]
}

/**
 * The stand's URLs: nginx on every nginx host (`targets`, in inventory order; its demo site is plain HTTP),
 * every Prometheus shard (`prometheus`: [{ name, url }]) and VictoriaMetrics on its host (null without
 * one), both HTTPS with the stand's CA and user.
 */
export function standUrls(inventory) {
  const [victoriametrics] = inventory.victoriametrics ?? []
  return {
    targets: inventory.nginx.map(nginxUrl),
    prometheus: inventory.prometheus.map((host) => ({ name: host.name, url: `https://${urlHost(host.address)}:${Number(host.vars.stand_prometheus_port)}/` })),
    victoriametrics: victoriametrics ? `https://${urlHost(victoriametrics.address)}:${Number(victoriametrics.vars.stand_victoriametrics_port)}/` : null,
  }
}

/** nginx's base URL on an nginx host of the inventory, at its own port. */
export function nginxUrl(host) {
  const port = Number(host.vars.stand_nginx_port)
  return `http://${urlHost(host.address)}${port === 80 ? '' : `:${port}`}/`
}

const urlHost = (address) => (address.includes(':') ? `[${address}]` : address)

/** ssh's arguments for a host, from Ansible's connection variables: the command goes after them. */
export function sshArguments(name, vars) {
  const args = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10']
  const port = vars.ansible_port ?? vars.ansible_ssh_port
  if (port) args.push('-p', String(port))
  if (vars.ansible_ssh_private_key_file) args.push('-i', String(vars.ansible_ssh_private_key_file))
  for (const key of ['ansible_ssh_common_args', 'ansible_ssh_extra_args']) {
    if (vars[key]) args.push(...splitShellWords(String(vars[key])))
  }
  const user = vars.ansible_user ?? vars.ansible_ssh_user
  return [...args, `${user ? `${user}@` : ''}${vars.ansible_host ?? name}`]
}

/** Where Ansible would become root with sudo, so do we (non-interactively); as root, no need. */
export function sudoPrefix(vars) {
  const user = vars.ansible_user ?? vars.ansible_ssh_user
  const becomes = vars.ansible_become === true || vars.ansible_become === 'true' || vars.ansible_become === 'yes'
  const method = vars.ansible_become_method ?? 'sudo'
  return becomes && user && user !== 'root' && method === 'sudo' ? ['sudo', '-n'] : []
}

/** Words of a POSIX shell string, as Ansible's shlex.split makes them: quotes and backslashes, no expansion. */
export function splitShellWords(text) {
  const words = []
  let word = null
  let quote = null
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quote === "'") {
      if (c === "'") quote = null
      else word += c
    } else if (quote === '"') {
      if (c === '"') quote = null
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) word += text[++i]
      else word += c
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word)
      word = null
    } else {
      word ??= ''
      if (c === "'" || c === '"') quote = c
      else if (c === '\\' && i + 1 < text.length) word += text[++i]
      else word += c
    }
  }
  if (quote) throw new Error(`unbalanced ${quote} in "${text}"`)
  if (word !== null) words.push(word)
  return words
}
