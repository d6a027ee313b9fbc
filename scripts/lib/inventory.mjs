// The stand's hosts, read from an Ansible inventory (the lab's, or one for real VMs) as the playbook resolves
// them, and how to reach them over SSH the way Ansible does: its connection variables, and sudo where it would
// become. What runs where is the resolved stand that plugins/filter/stand_model.py computes for the playbook,
// written as JSON by ansible/model.yml: nothing here works it out again.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL_PLAYBOOK = path.join(ROOT, 'ansible/model.yml');

// One model per inventory while its files (the inventory, its group_vars/ and host_vars/) stay as they are:
// the model itself, or the promise of it while ansible-playbook runs
const models = new Map();

/**
 * The resolved stand of the inventory `file`, as ansible/model.yml writes it: { hosts: { name: { name, address,
 * kinds, roles, services, vars } }, kinds: { kind: [host] }, shards: [{ name, hosts }], replicas, groups: { kind: group },
 * catalogue, targets: { Prometheus host: [target] }, inventory_hosts: [host] }. INI, YAML, group_vars/ and host_vars/ all count, and
 * role stand's defaults are under the inventory's values as in site.yml. Computed once per inventory.
 */
export function standModel(file) {
  const key = modelKey(file);
  const known = models.get(key);
  if (known && !(known instanceof Promise)) return known;
  const run = modelRun(file);
  try {
    execFileSync('ansible-playbook', run.args, run.options);
    models.set(key, run.model());
  } catch (error) {
    throw run.failure(error);
  } finally {
    run.clean();
  }
  return models.get(key);
}

/** standModel without blocking the event loop, for checks that run beside others. */
export async function standModelAsync(file) {
  const key = modelKey(file);
  if (!models.has(key)) {
    const run = modelRun(file);
    const model = promisify(execFile)('ansible-playbook', run.args, run.options)
      .then(
        () => run.model(),
        (error) => Promise.reject(run.failure(error)),
      )
      .finally(run.clean);
    models.set(key, model);
    model.then(
      (answer) => models.set(key, answer),
      () => models.delete(key),
    );
  }
  return models.get(key);
}

/** How ansible/model.yml is run for `file`: its arguments and options, its answer, its failure as said to the user. */
function modelRun(file) {
  if (!existsSync(file))
    throw new Error(`cannot read the inventory ${file}: no such file (is the lab up? npx zx scripts/lab.mjs up)`);
  const dir = mkdtempSync(path.join(tmpdir(), 'av-model-'));
  const out = path.join(dir, 'model.json');
  // an inventory Ansible cannot parse is an error, not an empty inventory and a warning
  const env = { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true' };
  return {
    args: ['-i', path.resolve(file), MODEL_PLAYBOOK, '-e', JSON.stringify({ model_file: out })],
    // from the repository, whose ansible.cfg finds role stand and the collection's filters
    options: /** @type {import('node:child_process').ExecFileSyncOptionsWithStringEncoding} */ ({
      cwd: ROOT,
      encoding: 'utf8',
      env,
      maxBuffer: 16 << 20,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    model: () => JSON.parse(readFileSync(out, 'utf8')),
    failure: (error) => {
      const output = `${error.stderr ?? ''} ${error.stdout ?? ''}`;
      // a task's failure says what is wrong (a bad stand_prometheus_replicas, say): its message alone
      const said = failedTaskMessage(output) ?? (output.replace(/\s+/g, ' ').trim() || error.message);
      const why =
        error.code === 'ENOENT'
          ? 'ansible-playbook not found (bash scripts/prereqs.sh installs it)'
          : said.length > 600
            ? `${said.slice(0, 600)} ...`
            : said;
      return new Error(`cannot read the inventory ${file}: ${why}`);
    },
    clean: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The message of the first task that failed in an ansible-playbook output, or null. */
function failedTaskMessage(output) {
  const failed = /FAILED! => (\{.*\})$/m.exec(output);
  try {
    return failed ? (JSON.parse(failed[1]).msg ?? null) : null;
  } catch {
    return null;
  }
}

/** What the model of an inventory depends on: its path, and the content of its files (a directory's, or the file and the group_vars/ and host_vars/ beside it). */
function modelKey(file) {
  const resolved = path.resolve(file);
  const filesUnder = (dir) =>
    existsSync(dir)
      ? readdirSync(dir, { recursive: true })
          .map((name) => path.join(dir, name))
          .filter((name) => statSync(name).isFile())
          .sort()
      : [];
  const isDir = existsSync(resolved) && statSync(resolved).isDirectory();
  const files = isDir
    ? filesUnder(resolved).filter((name) => !name.includes(`${path.sep}secrets${path.sep}`))
    : [resolved, ...['group_vars', 'host_vars'].flatMap((dir) => filesUnder(path.join(path.dirname(resolved), dir)))];
  const hash = createHash('sha256').update(resolved);
  for (const name of files.filter((name) => existsSync(name))) hash.update(`\0${name}\0`).update(readFileSync(name));
  return hash.digest('hex');
}

/**
 * { prometheus: [host], nginx: [host], victoriametrics: [host], services, targets, model } from an inventory's
 * resolved stand (standModel): the hosts of each kind in inventory order, the catalogue (services), what each
 * Prometheus shard scrapes ({ shard: [target] }) and the model itself. Each host: { name, address, vars, kinds,
 * roles, services (the catalogue's on it, with this host's ports; https: whether it speaks HTTPS on its port),
 * ssh: [ssh arguments up to the command], sudo: [] or ['sudo', '-n'] }; vars as the playbook has them.
 */
export function readInventory(file, model = standModel(file)) {
  const host = (name) => {
    const { address, vars, kinds, roles, services } = model.hosts[name];
    return { name, address, vars, kinds, roles, services, ssh: sshArguments(name, vars), sudo: sudoPrefix(vars) };
  };
  const inventory = { prometheus: model.kinds.prometheus.map(host), nginx: model.kinds.nginx.map(host) };
  const empty = Object.keys(inventory).filter((kind) => inventory[kind].length === 0);
  if (empty.length > 0)
    throw new Error(
      `the inventory ${file} has no hosts in group ${empty.map((kind) => model.groups[kind] ?? kind).join(' and ')}`,
    );
  inventory.victoriametrics = model.kinds.victoriametrics.map(host); // optional: the global view
  inventory.services = model.catalogue;
  inventory.targets = model.targets;
  inventory.model = model;
  return inventory;
}

/** Every host of readInventory's answer once, in kind order (a host may be of several kinds). */
export function everyHost(inventory) {
  return [
    ...new Map(
      [...inventory.prometheus, ...inventory.nginx, ...inventory.victoriametrics].map((host) => [host.name, host]),
    ).values(),
  ];
}

/**
 * The stand's URLs: nginx on every nginx host (`targets`, in inventory order; its demo site is plain HTTP),
 * every Prometheus shard (`prometheus`: [{ name, url }]; a shard of several replicas, stand_prometheus_replicas,
 * named after its first, with `replicas`: [{ name, url }] too, url its first's) and VictoriaMetrics on its host
 * (null without one), both HTTPS with the stand's CA and user.
 */
export function standUrls(inventory) {
  const [victoriametrics] = inventory.victoriametrics ?? [];
  const prometheus = new Map(
    inventory.prometheus.map((host) => [
      host.name,
      { name: host.name, url: `https://${urlHost(host.address)}:${Number(host.vars.stand_prometheus_port)}/` },
    ]),
  );
  const shards =
    inventory.model?.shards ?? inventory.prometheus.map((host) => ({ name: host.name, hosts: [host.name] }));
  return {
    targets: inventory.nginx.map(nginxUrl),
    prometheus: shards.map(({ name, hosts }) => {
      const replicas = hosts.map((host) => prometheus.get(host));
      return replicas.length === 1 ? replicas[0] : { name, url: replicas[0].url, replicas };
    }),
    victoriametrics: victoriametrics
      ? `https://${urlHost(victoriametrics.address)}:${Number(victoriametrics.vars.stand_victoriametrics_port)}/`
      : null,
  };
}

/** nginx's base URL on an nginx host of the inventory, at its own port. */
export function nginxUrl(host) {
  const port = Number(host.vars.stand_nginx_port);
  return `http://${urlHost(host.address)}${port === 80 ? '' : `:${port}`}/`;
}

const urlHost = (address) => (address.includes(':') ? `[${address}]` : address);

/** ssh's arguments for a host, from Ansible's connection variables: the command goes after them. */
export function sshArguments(name, vars) {
  const args = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10'];
  const port = vars.ansible_port ?? vars.ansible_ssh_port;
  if (port) args.push('-p', String(port));
  if (vars.ansible_ssh_private_key_file) args.push('-i', String(vars.ansible_ssh_private_key_file));
  for (const key of ['ansible_ssh_common_args', 'ansible_ssh_extra_args']) {
    if (vars[key]) args.push(...splitShellWords(String(vars[key])));
  }
  const user = vars.ansible_user ?? vars.ansible_ssh_user;
  return [...args, `${user ? `${user}@` : ''}${vars.ansible_host ?? name}`];
}

/** Where Ansible would become root with sudo, so do we (non-interactively); as root, no need. */
export function sudoPrefix(vars) {
  const user = vars.ansible_user ?? vars.ansible_ssh_user;
  const becomes = vars.ansible_become === true || vars.ansible_become === 'true' || vars.ansible_become === 'yes';
  const method = vars.ansible_become_method ?? 'sudo';
  return becomes && user && user !== 'root' && method === 'sudo' ? ['sudo', '-n'] : [];
}

/** Words of a POSIX shell string, as Ansible's shlex.split makes them: quotes and backslashes, no expansion. */
export function splitShellWords(text) {
  const words = [];
  let word = null;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) word += text[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word ??= '';
      if (c === "'" || c === '"') quote = c;
      else if (c === '\\' && i + 1 < text.length) word += text[++i];
      else word += c;
    }
  }
  if (quote) throw new Error(`unbalanced ${quote} in "${text}"`);
  if (word !== null) words.push(word);
  return words;
}
