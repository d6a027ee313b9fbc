// A bare Debian control machine inside this one, for the end-to-end test and npm run bench:bringup: a copy of
// the lab's cached minimal root (systemd, sshd, python3; no Node.js, no Ansible), with git and sudo added as
// on a cloud image, and a user who may sudo without a password. The README's first command then runs there
// as that user, from a clone, and does the whole set-up itself: the lab (systemd-nspawn of that Debian
// release, nested), the provisioned stand and the report.
//
// It is entered as a machine's root is, not with chroot: a mount namespace of its own whose root is the copy
// (pivot_root). Under chroot the kernel refuses to create user namespaces (user_namespaces(7), EPERM), so
// every unit with PrivateUsers= (Debian's prometheus.service among them) fails with 217/USER in the lab's
// hosts, which no real machine does. /proc, /sys, /dev and /run are this machine's, and so is the network:
// its lab bridge is the one lab of this machine, so nothing else may run a lab meanwhile.

const OLD_ROOT = '.av-old-root';
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
// The CA bundle this machine trusts (the network may inspect TLS): npm inside needs it for the registry.
const CONTROL_CA = '/etc/ssl/certs/ca-certificates.crt';
const COPIED_CA = '/etc/ssl/control-machine-ca.pem';

/** @param {string} text */
const quote = (text) => `'${text.replaceAll("'", "'\\''")}'`;

export class BareMachine {
  /**
   * `release`: trixie or bookworm; the root is a copy of the lab's cache of it, at `dir`.
   * @param {string} release
   * @param {{ dir?: string, user?: string, cache?: string }} [options] `user`: the one who may sudo; `cache`: the lab's cached roots
   */
  constructor(
    release,
    { dir = `/var/tmp/av-bare-${release}`, user = 'av-bare-user', cache = '/var/cache/av-lab' } = {},
  ) {
    this.release = release;
    this.dir = dir;
    this.user = user;
    this.cache = cache;
    this.home = `/home/${user}`;
  }

  /**
   * [command, args] that run `script` (bash) as root inside the machine, in a fresh mount namespace.
   * @param {string} script
   * @returns {[string, string[]]}
   */
  asRoot(script) {
    const inside = `env -i HOME=/root PATH=${PATH} LANG=C.UTF-8 NODE_EXTRA_CA_CERTS=${COPIED_CA} bash -c ${quote(script)}`;
    return [
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        `cd ${quote(this.dir)} && pivot_root . ${OLD_ROOT} && cd / && umount -l /${OLD_ROOT} && exec ${inside}`,
      ],
    ];
  }

  /**
   * [command, args] that run `script` as the machine's user, in a login shell, from the user's home.
   * @param {string} script
   */
  asUser(script) {
    return this.asRoot(`runuser -l ${this.user} -c ${quote(`NODE_EXTRA_CA_CERTS=${COPIED_CA} ${script}`)}`);
  }

  /**
   * Shell (run on this machine) that makes the root: copy, mount points, the network's name server and CA, the
   * host name, a machine ID.
   */
  createScript() {
    const { dir, release, cache } = this;
    const root = `${cache}/debian-${release}`;
    return [
      'set -euo pipefail',
      `test -d ${root}/usr/bin || { echo "no cached ${release} root at ${root}: run the lab once first" >&2; exit 1; }`,
      this.removeScript(),
      `cp -a ${root} ${dir}`,
      `mkdir -p ${dir}/${OLD_ROOT}`,
      `mount --bind ${dir} ${dir}`, // pivot_root needs the new root to be a mount point
      ...['proc', 'sys', 'dev', 'run'].map((d) => `mount --rbind /${d} ${dir}/${d} && mount --make-rslave ${dir}/${d}`),
      `cp /etc/resolv.conf ${dir}/etc/resolv.conf`,
      // it shares this machine's host name, which a cloud image lists in /etc/hosts: sudo warns at every call otherwise
      `printf '127.0.1.1\\t%s\\n' "$(hostname)" >> ${dir}/etc/hosts`,
      // its own machine ID, as a cloud image gets at its first boot: the cached root's is empty (mmdebstrap leaves
      // it so), and systemd-nspawn there refuses to start a machine on a host without one
      `tr -d - < /proc/sys/kernel/random/uuid > ${dir}/etc/machine-id`,
      `cp ${CONTROL_CA} ${dir}${COPIED_CA}`,
      `printf 'cafile=${COPIED_CA}\\n' > ${dir}/etc/npmrc`,
    ].join('\n');
  }

  /** Shell (inside, as root) that adds what a cloud image has and the minimal root lacks: git, sudo, a sudo user. */
  cloudImageScript() {
    const { user } = this;
    return [
      'set -euo pipefail',
      'export DEBIAN_FRONTEND=noninteractive',
      'apt-get update -q',
      'apt-get install -y -q --no-install-recommends git sudo',
      `useradd --create-home --shell /bin/bash ${user}`,
      `echo '${user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-${user} && chmod 0440 /etc/sudoers.d/90-${user}`,
      'if command -v node || command -v npm || command -v ansible-playbook; then echo "not a bare machine" >&2; exit 1; fi',
    ].join('\n');
  }

  /**
   * Shell (run on this machine) that removes the root, if any: first the lab inside it (its machines are
   * this machine's processes), then the mounts, then the files. Safe to run when nothing is there.
   */
  removeScript() {
    const { dir } = this;
    const [unshare, args] = this.asRoot(`cd ${this.home}/stand 2>/dev/null && npx zx scripts/lab.mjs down || true`);
    return [
      `if [ -d ${dir}/usr/bin ] && mountpoint -q ${dir}; then ${unshare} ${args.map(quote).join(' ')} || true; fi`,
      `if mountpoint -q ${dir}; then umount -R -l ${dir}; fi`,
      `rm -rf --one-file-system ${dir}`,
    ].join('\n');
  }

  /** The machine's user's clone, as this machine sees it. */
  get standDir() {
    return `${this.dir}${this.home}/stand`;
  }
}
