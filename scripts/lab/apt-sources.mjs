// Which Debian mirror the lab may fetch from: the one this machine's own apt uses. Pure parsers of apt's two
// source formats, and the sources file each lab host gets.
import fs from 'node:fs';

/** KEY=value lines of /etc/os-release, quotes removed. */
export function parseOsRelease(text) {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => {
        const [key, ...value] = line.split('=');
        return [key.trim(), value.join('=').trim().replace(/^"|"$/g, '')];
      }),
  );
}

/** One-line sources (sources.list): `deb [options] URI SUITE COMPONENT...`, comments and options dropped. */
export function parseOneLineSources(text) {
  return text
    .split('\n')
    .map((line) =>
      line
        .replace(/#.*/, '')
        .replace(/\[[^\]]*\]/, '')
        .trim(),
    )
    .filter(Boolean)
    .map((line) => {
      const [type, uri, suite] = line.split(/\s+/);
      return { types: [type], uri, suites: suite ? [suite] : [] };
    });
}

/** deb822 sources (*.sources): stanzas of `Field: value`, continuation lines, `Enabled: no` skipped. */
export function parseDeb822Sources(text) {
  return text.split(/\n\s*\n/).flatMap((stanza) => {
    const fields = {};
    let key;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const field = line.match(/^([\w-]+):\s*(.*)$/);
      if (field) {
        key = field[1].toLowerCase();
        fields[key] = field[2];
      } else if (key && /^\s/.test(line)) {
        fields[key] += ` ${line.trim()}`;
      }
    }
    if (fields.enabled?.trim().toLowerCase() === 'no') return [];
    const words = (name) => (fields[name] ?? '').split(/\s+/).filter(Boolean);
    return words('uris').map((uri) => ({ types: words('types'), uri, suites: words('suites') }));
  });
}

/**
 * The Debian archive and security archive among `entries`, found by this machine's codename (the same
 * mirror serves the other releases). Throws when there is no archive for it.
 */
export function pickDebianSources(entries, codename) {
  const usable = entries.filter((e) => e.types.includes('deb') && /^https?:\/\//.test(e.uri));
  const archive = usable.find((e) => e.suites.includes(codename));
  if (!archive)
    throw new Error(`no Debian mirror for ${codename} in /etc/apt/sources.list or /etc/apt/sources.list.d/`);
  const security = usable.find((e) => e.suites.includes(`${codename}-security`));
  return { archive: repository(archive.uri), security: security ? repository(security.uri) : null };
}

/** The forms of one repository URL the lab needs: for apt-cacher-ng, and for clients of the proxy. */
export function repository(uri) {
  const url = new URL(uri);
  const pathname = url.pathname.replace(/\/+$/, '');
  return {
    backend: `${url.origin}${pathname}/`, // apt-cacher-ng fetches from here, https or not
    prefix: `${url.host}${pathname}`, // the requests it accepts for that backend
    viaProxy: `http://${url.host}${pathname}`, // what the hosts and mmdebstrap ask the proxy for
  };
}

/** The deb822 sources file of a lab host of `release`, through the proxy. */
export function hostSourcesFile({ archive, security }, release) {
  const stanza = (uri, suites) => `Types: deb
URIs: ${uri}
Suites: ${suites}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
  const stanzas = [stanza(archive.viaProxy, `${release} ${release}-updates`)];
  if (security) stanzas.push(stanza(security.viaProxy, `${release}-security`));
  return stanzas.join('\n');
}

/** This machine's Debian sources, read from /etc/apt. */
export function thisMachinesDebianSources() {
  const read = (file) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const inDir = (suffix) => {
    const dir = '/etc/apt/sources.list.d';
    return fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => f.endsWith(suffix))
          .map((f) => `${dir}/${f}`)
      : [];
  };
  const entries = [
    ...['/etc/apt/sources.list', ...inDir('.list')].flatMap((file) => parseOneLineSources(read(file))),
    ...inDir('.sources').flatMap((file) => parseDeb822Sources(read(file))),
  ];
  return pickDebianSources(entries, parseOsRelease(read('/etc/os-release')).VERSION_CODENAME);
}
