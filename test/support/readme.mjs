// What the tests read out of the READMEs.

/** The YAML block under a README's "## Example Playbook" heading. */
export function examplePlaybook(readme) {
  const section = readme.split(/^## Example Playbook$/m)[1]?.split(/^## /m)[0] ?? '';
  return /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
}
