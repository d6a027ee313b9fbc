// Each lab host's own cgroup tree. systemd-nspawn (with --keep-unit and no machined to register with) puts its
// container into `payload` below the cgroup nspawn itself was started in. Started side by side from one cgroup,
// all the hosts shared one tree, and with it every unit's cgroup: prom1's and web1's node exporters were both
// in /payload/system.slice/prometheus-node-exporter.service. When both hosts started the same unit at once,
// one host's systemd removed the cgroup the other's was about to start the unit in: "Failed to spawn executor:
// No such file or directory". A real VM has a tree of its own, so each host's nspawn is started from a cgroup
// of its own, in every hierarchy nspawn may take its path from.
import fs from 'node:fs';
import { readText } from './processes.mjs';

const LAB_CGROUP = 'av-lab';

/**
 * The mounted cgroup hierarchies nspawn reads its own cgroup from: cgroup v2 (at /sys/fs/cgroup on a unified
 * machine, at /sys/fs/cgroup/unified on a hybrid one) and cgroup v1's name=systemd (legacy and hybrid).
 */
export function cgroupHierarchies(mounts = readText('/proc/self/mounts')) {
  return mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter(
      ([, mountPoint, type, options = '']) =>
        mountPoint?.startsWith('/sys/fs/cgroup') &&
        (type === 'cgroup2' || (type === 'cgroup' && options.split(',').includes('name=systemd'))),
    )
    .map(([, mountPoint]) => mountPoint);
}

/** The host's own cgroup in each hierarchy. */
export function hostCgroups(name, hierarchies = cgroupHierarchies()) {
  return hierarchies.map((hierarchy) => `${hierarchy}/${LAB_CGROUP}/${name}`);
}

/**
 * systemd-nspawn with these flags, started from the host's own cgroups: the shell moves itself there, then
 * becomes nspawn (same pid), so nspawn never runs anywhere else. Returns [command, args, env].
 * @returns {[string, string[], { AV_LAB_CGROUPS: string }]}
 */
export function nspawnInOwnCgroup(name, flags) {
  const script =
    'set -e; for dir in $AV_LAB_CGROUPS; do mkdir -p "$dir"; echo $$ > "$dir/cgroup.procs"; done; exec systemd-nspawn "$@"';
  return ['sh', ['-c', script, 'systemd-nspawn', ...flags], { AV_LAB_CGROUPS: hostCgroups(name).join(' ') }];
}

/** Removes the host's cgroups once nothing runs in them (deepest first); what still holds a process stays. */
export function removeHostCgroups(name) {
  const removeEmpty = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // not there
    }
    for (const entry of entries) if (entry.isDirectory()) removeEmpty(`${dir}/${entry.name}`);
    try {
      fs.rmdirSync(dir);
    } catch {
      // a process is still in it: left as it is
    }
  };
  for (const dir of hostCgroups(name)) {
    removeEmpty(dir);
    try {
      fs.rmdirSync(dir.slice(0, dir.lastIndexOf('/'))); // the lab's own cgroup, once no host is left in it
    } catch {
      // another host's cgroup is still in it
    }
  }
}
