// What the lab hands to Ansible and the scripts: inventory/lab/hosts.yml and lab.json.
import fs from 'node:fs';
import { Document } from 'yaml';
import { INVENTORY, SSH_USER, labDescription, paths } from './layout.mjs';

/** The lab's inventory: as for real VMs, a sudo user and become, host keys checked strictly. */
export function inventoryDocument(hosts) {
  const group = (name) =>
    Object.fromEntries(hosts.filter((h) => h.group === name).map((h) => [h.name, { ansible_host: h.address }]));
  const inventory = new Document({
    all: {
      vars: {
        ansible_user: SSH_USER,
        ansible_become: true,
        ansible_ssh_private_key_file: paths.key,
        ansible_ssh_common_args: `-o UserKnownHostsFile=${paths.knownHosts} -o StrictHostKeyChecking=yes`,
        ansible_python_interpreter: '/usr/bin/python3',
      },
      children: {
        prometheus: { hosts: group('prometheus') },
        nginx: { hosts: group('nginx') },
        ...(hosts.some((h) => h.group === 'victoriametrics')
          ? { victoriametrics: { hosts: group('victoriametrics') } }
          : {}),
      },
    },
  });
  inventory.commentBefore = ' The local lab: written by `npx zx scripts/lab.mjs up`, removed by `down`. Do not edit.';
  return inventory.toString({ lineWidth: 0 });
}

export function writeInventory(hosts) {
  fs.mkdirSync(INVENTORY, { recursive: true });
  fs.writeFileSync(`${INVENTORY}/hosts.yml`, inventoryDocument(hosts));
  fs.writeFileSync(`${INVENTORY}/lab.json`, `${JSON.stringify(labDescription(hosts), null, 2)}\n`);
}

export function removeInventory() {
  for (const file of ['hosts.yml', 'lab.json']) fs.rmSync(`${INVENTORY}/${file}`, { force: true });
  fs.rmSync(`${INVENTORY}/secrets`, { recursive: true, force: true }); // the lab's CA and password (site.yml made them)
  try {
    fs.rmdirSync(INVENTORY); // only if empty
  } catch {
    // something else is in it: left as it is
  }
}
