// What the report reads on the nginx hosts themselves, over SSH as Ansible reaches them: the access
// log's lines since a moment, and av-exporter's /metrics (its port is open only to the Prometheus host,
// so it is read on the nginx host, from loopback). Each also has a local form for a stand on this machine.
// `client`: the stand's (stand-client.mjs), which logs in to the hosts and knows the stand's user.
import { readFile } from 'node:fs/promises';
import { retry } from 'zx';

/** The JSON access log of an nginx host: the shared value stand_access_log_path, as the inventory gives it. */
export const accessLogPath = (vars) => String(vars.stand_access_log_path);

// Runs on the nginx host (python3 is there: Ansible needs it). Prints the lines of each file named after
// argv[1] (the rotated copy first, then the current log) whose msec is after argv[1], oldest first. It
// does not read a log's months of history: lines are written in the order requests end, so it bisects the
// file's bytes for the first line a few seconds before that moment (workers may write slightly out of
// order), then reads on from there.
export const LOG_SINCE_SCRIPT = String.raw`
import os, re, sys
since = float(sys.argv[1])
SLACK_SECONDS = 5.0
MSEC = re.compile(rb'"msec":"?([0-9.]+)')
out = sys.stdout.buffer

def msec_of(line):
    match = MSEC.search(line)
    return float(match.group(1)) if match else None

def line_start_from(f, offset):
    if offset == 0:
        return 0
    f.seek(offset - 1)
    f.readline()
    return f.tell()

def first_msec_from(f, offset):
    f.seek(line_start_from(f, offset))
    for line in f:
        value = msec_of(line)
        if value is not None:
            return value
    return None

def start_of_lines_after(f, size, moment):
    low, high = 0, size
    while low < high:
        middle = (low + high) // 2
        value = first_msec_from(f, middle)
        if value is None or value >= moment:
            high = middle
        else:
            low = middle + 1
    return line_start_from(f, low)

# Opened newest first: a rotation between two opens then shows the same file twice (read once, by its
# inode), never a file missed.
files, seen = [], set()
for path in reversed(sys.argv[2:]):
    try:
        f = open(path, 'rb')
    except FileNotFoundError:
        continue
    stat = os.fstat(f.fileno())
    identity = (stat.st_dev, stat.st_ino)
    if identity in seen:
        f.close()
        continue
    seen.add(identity)
    files.insert(0, f)

for f in files:
    with f:
        f.seek(0, 2)
        f.seek(start_of_lines_after(f, f.tell(), since - SLACK_SECONDS))
        for line in f:
            value = msec_of(line)
            if value is not None and value > since:
                out.write(line if line.endswith(b'\n') else line + b'\n')
`;

/**
 * Before the load: every nginx host answers over SSH, and the access log can be read there (as
 * root with sudo where Ansible would become), so a long run does not end in an error it could have
 * had at the start. Scripts go to python3 on stdin: ssh hands the remote shell one joined string.
 */
export async function checkNginxHosts(client, hosts) {
  await Promise.all(
    hosts.map(async (host) => {
      const log = accessLogPath(host.vars);
      const check = 'import sys\nopen(sys.argv[1], "rb").close()\n';
      await retry(2, '2s', () => client.onHost(host, ['python3', '-', log], { input: check, root: true })).catch(
        (error) => {
          throw new Error(
            `cannot read ${log} on ${host.name} (${host.address}) over SSH${host.sudo.length ? ' with sudo' : ''}: ${lastLine(error.stderr ?? error.message)}; check: ssh ${host.ssh.join(' ')} ${host.sudo.join(' ')} ls -l ${log}`,
          );
        },
      );
    }),
  );
}

/**
 * The access log's lines since `sinceSeconds` on each nginx host: { [host name]: text }, read over SSH
 * (the rotated `.1` file, then the current one). With `localFile`, that file's text under the first
 * host's name (or "local").
 */
export async function accessLogsSince(client, hosts, sinceSeconds, localFile = null) {
  if (localFile) {
    try {
      return { [hosts[0]?.name ?? 'local']: await readFile(localFile, 'utf8') };
    } catch (error) {
      throw new Error(`cannot read the access log ${localFile}: ${error.message}`);
    }
  }
  const texts = await Promise.all(
    hosts.map((host) => {
      const log = accessLogPath(host.vars);
      return retry(3, '2s', () =>
        client.onHost(host, ['python3', '-', String(sinceSeconds), `${log}.1`, log], {
          input: LOG_SINCE_SCRIPT,
          root: true,
        }),
      ).then(
        (output) => output.stdout,
        (error) => {
          throw new Error(
            `cannot read ${log} on ${host.name} (${host.address}) over SSH: ${lastLine(error.stderr ?? error.message)}; check: ssh ${host.ssh.join(' ')} true`,
          );
        },
      );
    }),
  );
  return Object.fromEntries(hosts.map((host, i) => [host.name, texts[i]]));
}

/**
 * av-exporter's /metrics as the first nginx host serves it on loopback (or from `localUrl`): HTTPS, checked
 * against the stand's CA as the host has it, with the stand's user. The script, password included, goes to
 * the host's python3 on standard input, never on a command line.
 */
export async function exporterMetrics(client, hosts, localUrl = null) {
  if (localUrl) {
    const response = await client.get(localUrl, { timeoutMs: 10_000 }).catch((error) => {
      throw new Error(`av-exporter does not answer at ${localUrl}: ${error.code ?? error.message}`);
    });
    if (response.status !== 200) throw new Error(`av-exporter answered ${response.status} at ${localUrl}`);
    return response.text;
  }
  const [host] = hosts;
  const url = exporterLocalUrl(host.vars);
  const script = [
    'import ssl, sys, urllib.request',
    `context = ssl.create_default_context(cafile=${JSON.stringify(String(host.vars.stand_web_ca_file))})`,
    `request = urllib.request.Request(${JSON.stringify(url)}, headers={'Authorization': ${JSON.stringify(client.authorization)}})`,
    'sys.stdout.write(urllib.request.urlopen(request, timeout=10, context=context).read().decode())',
    '',
  ].join('\n');
  try {
    return (await retry(3, '2s', () => client.onHost(host, ['python3', '-'], { input: script }))).stdout;
  } catch (error) {
    throw new Error(
      `cannot read av-exporter's ${url} on ${host.name} (${host.address}): ${lastLine(error.stderr ?? error.message)}; check: systemctl status av-exporter there`,
    );
  }
}

/** av-exporter's /metrics as seen on its own host: on loopback, unless the inventory binds it to one address. */
export function exporterLocalUrl(vars) {
  const host = String(vars.av_exporter_listen_host ?? '0.0.0.0');
  const local = ['', '0.0.0.0', '::', '[::]'].includes(host) ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `https://${local}:${Number(vars.stand_av_exporter_port)}/metrics`;
}

const lastLine = (text) => String(text).trim().split('\n').pop();
