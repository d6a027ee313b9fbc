// The stand's hosts, read from an Ansible inventory (the lab's, or one for real VMs), and how to
// reach them over SSH the way Ansible does.
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'

/** { prometheus: [host], nginx: [host] }, each host { name, address, ssh: [ssh arguments up to the command] }. */
export function readInventory(path) {
  let document
  try {
    document = parseYaml(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new Error(`cannot read the inventory ${path}: ${error.message} (is the lab up? npx zx scripts/lab.mjs up)`)
  }
  const all = document?.all ?? {}
  const groupVars = (group) => all.children?.[group]?.vars ?? {}
  const hostsOf = (group) =>
    Object.entries(all.children?.[group]?.hosts ?? {}).map(([name, vars]) => {
      const merged = { ...all.vars, ...groupVars(group), ...vars }
      return { name, address: merged.ansible_host ?? name, ssh: sshArguments(name, merged) }
    })
  const inventory = { prometheus: hostsOf('prometheus'), nginx: hostsOf('nginx') }
  if (inventory.prometheus.length === 0 || inventory.nginx.length === 0) {
    throw new Error(`the inventory ${path} needs hosts in groups prometheus and nginx`)
  }
  return inventory
}

function sshArguments(name, vars) {
  const args = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10']
  if (vars.ansible_port) args.push('-p', String(vars.ansible_port))
  if (vars.ansible_ssh_private_key_file) args.push('-i', vars.ansible_ssh_private_key_file)
  if (vars.ansible_ssh_common_args) args.push(...vars.ansible_ssh_common_args.split(/\s+/).filter(Boolean))
  const user = vars.ansible_user ? `${vars.ansible_user}@` : ''
  return [...args, `${user}${vars.ansible_host ?? name}`]
}
