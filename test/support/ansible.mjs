// Running Ansible's own tools from the tests, on the control machine: errors carry the whole output.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const EXAMPLE_INVENTORY = 'inventory/example/hosts.yml';

/** Runs a tool from the repository root; resolves with stdout + stderr, rejects with them and the exit code. */
export async function tool(command, args) {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, {
      cwd: ROOT,
      maxBuffer: 16 << 20,
      env: { ...process.env, NO_COLOR: '1', ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' },
    });
    return `${stdout}${stderr}`;
  } catch (error) {
    const failure = /** @type {Error & { output?: string }} */ (
      new Error(`${command} ${args.join(' ')} failed (exit ${error.code}):\n${error.stdout}${error.stderr}`)
    );
    failure.output = `${error.stdout}${error.stderr}`;
    throw failure;
  }
}

/**
 * Renders every host's configs (ansible/render-configs.yml) for `inventory`, with extra vars; resolves with
 * the directory, which holds one directory per host.
 */
export async function renderConfigs(inventory, extraVars = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'av-rendered-'));
  const varsFile = join(dir, 'extra-vars.json');
  // the stand's secrets (CA, certificates, password) are made in there too, not beside the inventory
  await writeFile(varsFile, JSON.stringify({ render_dir: dir, stand_secrets_dir: join(dir, 'secrets'), ...extraVars }));
  const output = await tool('ansible-playbook', ['-i', inventory, 'ansible/render-configs.yml', '-e', `@${varsFile}`]);
  if (/\[WARNING\]/.test(output)) throw new Error(`ansible-playbook warned while rendering:\n${output}`);
  return dir;
}

/** `ansible-inventory --list` of an inventory: its groups and its own values. */
export async function inventoryList(inventory) {
  return JSON.parse(await tool('ansible-inventory', ['-i', inventory, '--list', '--playbook-dir', ROOT]));
}
