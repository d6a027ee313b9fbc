// The docs against the repository, statically and in a few seconds: every relative link and anchor resolves,
// every `npm run` script and every flag of scripts/load.mjs and scripts/lab.mjs they name exists, the README
// keeps within its caps, and each role README's example playbook parses and names only roles, handlers and
// variables that exist. Each problem names the file and line.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README_CAPS = { lines: 150, words: 1500, lineLength: 200 };

const ROLES = readdirSync(join(ROOT, 'roles'))
  .filter((name) => statSync(join(ROOT, 'roles', name)).isDirectory())
  .sort();
const DOCS = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
  ...ROLES.map((role) => `roles/${role}/README.md`).filter((file) => existsSync(join(ROOT, file))),
];

const read = (file) => readFileSync(join(ROOT, file), 'utf8');
const readYaml = (file) => (existsSync(join(ROOT, file)) ? (parseYaml(read(file)) ?? {}) : {});

/**
 * A Markdown file's lines, each with its number and whether it lies in a fenced code block (the fences
 * included). Inline code spans are blanked out of `prose`, so that a link written as code is not a link.
 */
function markdownLines(text) {
  const lines = [];
  let fence = null;
  for (const [index, raw] of text.split('\n').entries()) {
    const opening = /^ {0,3}(`{3,}|~{3,})/.exec(raw);
    let inCode = fence !== null;
    if (fence === null && opening) {
      fence = opening[1];
      inCode = true;
    } else if (
      fence !== null &&
      opening &&
      opening[1][0] === fence[0] &&
      opening[1].length >= fence.length &&
      raw.trim() === opening[1]
    ) {
      fence = null;
    }
    const prose = inCode ? '' : raw.replace(/(`+)([\s\S]*?)\1/g, (span) => ' '.repeat(span.length));
    lines.push({ number: index + 1, raw, inCode, prose });
  }
  return lines;
}

/** GitHub's anchor for a heading: its rendered text, lower case, punctuation dropped, each space a hyphen. */
function slug(heading) {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link: its text
    .replace(/<[^>]+>/g, '') // HTML tags
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

const anchorCache = new Map();

/** The anchors of a Markdown file: one per heading (repeats get -1, -2, ...), and explicit id= or name=. */
function anchorsOf(file) {
  if (!anchorCache.has(file)) {
    const anchors = new Set();
    const seen = new Map();
    for (const line of markdownLines(readFileSync(file, 'utf8'))) {
      if (line.inCode) continue;
      const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line.raw);
      if (heading) {
        const base = slug(heading[1]);
        const count = seen.get(base) ?? 0;
        seen.set(base, count + 1);
        anchors.add(count === 0 ? base : `${base}-${count}`);
      }
      for (const [, id] of line.raw.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/g)) anchors.add(id);
    }
    anchorCache.set(file, anchors);
  }
  return anchorCache.get(file);
}

/** The links of a line's prose: inline `[text](target)`, images, and reference definitions `[x]: target`. */
function linksOf(prose) {
  const targets = [];
  for (const [, target] of prose.matchAll(/\]\(\s*<?([^()\s>]+(?:\([^()\s]*\)[^()\s>]*)*)>?(?:\s+"[^"]*")?\s*\)/g))
    targets.push(target);
  const definition = /^ {0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s|$)/.exec(prose);
  if (definition) targets.push(definition[1]);
  return targets;
}

/** What is wrong with one link of `file`, or null when it resolves. */
function brokenLink(file, target) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return null; // https:, mailto:: not ours to check offline
  const [pathPart, anchor] = target.split('#', 2);
  const path = pathPart === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), decodeURIComponent(pathPart));
  if (!path.startsWith(ROOT)) return `link ${target} leaves the repository`;
  if (!existsSync(path)) return `link ${target}: ${relative(ROOT, path)} does not exist`;
  if (anchor === undefined || !path.endsWith('.md') || statSync(path).isDirectory()) return null;
  return anchorsOf(path).has(decodeURIComponent(anchor))
    ? null
    : `link ${target}: no heading with anchor #${anchor} in ${relative(ROOT, path)}`;
}

/** The long flags a script reads from zx's argv, directly or through a list of flag names in its options module. */
function flagsOf(...sources) {
  const flags = new Set(['help']);
  for (const source of sources) {
    const text = read(source);
    for (const [, name] of text.matchAll(/\bargv(?:\.([a-zA-Z][\w]*)|\[\s*'([^']+)'\s*\])/g)) flags.add(name);
    for (const [, name] of text.matchAll(/\bargv\[\s*'([^']+)'\s*\]/g)) flags.add(name);
    // a count read as argv[flag] for flag in count('nginx', ...)
    for (const [, name] of text.matchAll(/\bcount\(\s*'([a-z][\w-]*)'/g)) flags.add(name);
    const list = /\bconst FLAGS = \[([^\]]*)\]/.exec(text);
    if (list) for (const [, name] of list[1].matchAll(/'([^']+)'/g)) flags.add(name);
  }
  return flags;
}

const SCRIPTS = {
  'load.mjs': flagsOf('scripts/load.mjs', 'scripts/lib/options.mjs'),
  'lab.mjs': flagsOf('scripts/lab.mjs'),
};

/**
 * The flags a line gives scripts/load.mjs or scripts/lab.mjs: after the script's name, up to the end of its
 * command (a code span's end in prose; `&&`, a pipe or another command in a code block, comments included),
 * and after `npm run stand --`, whose arguments go to load.mjs.
 */
function scriptFlags(line) {
  const found = [];
  const segments = line.inCode ? [line.raw] : [...line.raw.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
  for (const segment of segments) {
    for (const match of segment.matchAll(/\b(load\.mjs|lab\.mjs)\b|\bnpm run stand --(?=\s)/g)) {
      const script = match[1] ?? 'load.mjs';
      const rest = segment
        .slice(match.index + match[0].length)
        .split(/&&|\s\|\s|\b(?:npx|npm|sudo|ansible-playbook|curl|bash)\s/)[0];
      for (const [, flag] of rest.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)) found.push({ script, flag });
    }
  }
  return found;
}

/** A role's defaults, argument_specs options, facts it sets and results it registers. */
function roleVariables(role) {
  const names = new Set(Object.keys(readYaml(`roles/${role}/defaults/main.yml`)));
  for (const entry of Object.values(readYaml(`roles/${role}/meta/argument_specs.yml`).argument_specs ?? {})) {
    for (const name of Object.keys(entry.options ?? {})) names.add(name);
  }
  for (const file of tasksFiles(role)) {
    const text = read(file);
    for (const [, name] of text.matchAll(/^\s*register:\s*([\w]+)/gm)) names.add(name);
    for (const block of text.split(/^\s*-?\s*(?:ansible\.builtin\.)?set_fact:\s*$/m).slice(1)) {
      for (const [, name] of block.matchAll(/^\s{4,}([a-z_][\w]*):/gm)) names.add(name);
    }
  }
  return names;
}

function tasksFiles(role) {
  const dir = join(ROOT, 'roles', role, 'tasks');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => `roles/${role}/tasks/${f}`);
}

/** The roles a role includes from its tasks (include_role / import_role), by their short names. */
function includedRoles(role) {
  const included = new Set();
  for (const file of tasksFiles(role)) {
    for (const [, name] of read(file).matchAll(/(?:include|import)_role:\s*\n\s+name:\s*(?:av\.stand\.)?([a-z_]+)/g))
      included.add(name);
  }
  return included;
}

function handlersOf(role) {
  const handlers = readYaml(`roles/${role}/handlers/main.yml`);
  return (Array.isArray(handlers) ? handlers : []).flatMap((h) => [h.name, ...[h.listen ?? []].flat()]).filter(Boolean);
}

/** The YAML block under a README's "## Example Playbook" heading, and the line it starts on. */
function examplePlaybook(text) {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => /^## Example Playbook\s*$/.test(line));
  if (start < 0) return null;
  for (let i = start + 1; i < lines.length && !/^## /.test(lines[i]); i++) {
    if (/^```ya?ml\s*$/.test(lines[i])) {
      const end = lines.findIndex((line, j) => j > i && /^```\s*$/.test(line));
      return { yaml: lines.slice(i + 1, end).join('\n'), firstLine: i + 2 };
    }
  }
  return null;
}

// keys of a role entry in a play's roles: that are not the role's variables
const ROLE_ENTRY_KEYWORDS = new Set([
  'role',
  'name',
  'vars',
  'when',
  'tags',
  'become',
  'become_user',
  'delegate_to',
  'environment',
  'tasks_from',
  'defaults_from',
  'vars_from',
  'handlers_from',
  'public',
  'apply',
  'allow_duplicates',
]);
const EXPRESSION_KEYS = new Set(['when', 'changed_when', 'failed_when', 'until', 'loop', 'with_items']);

/** Every problem of one role README's example playbook, each with the README's line. */
function playbookProblems(file, example) {
  const problems = [];
  const lineOf = (needle) => {
    const index = example.yaml.split('\n').findIndex((line) => line.includes(needle));
    return example.firstLine + Math.max(index, 0);
  };
  const problem = (needle, message) => problems.push(`${file}:${lineOf(needle)}: ${message}`);
  let plays;
  try {
    plays = parseYaml(example.yaml);
  } catch (error) {
    return [
      `${file}:${example.firstLine}: the example playbook does not parse as YAML: ${error.message.split('\n')[0]}`,
    ];
  }
  if (!Array.isArray(plays) || plays.length === 0)
    return [`${file}:${example.firstLine}: the example playbook is not a list of plays`];
  const standVariables = roleVariables('stand');
  for (const play of plays) {
    const used = new Set();
    const given = []; // [variable, where]
    const useRole = (name) => {
      const short = /^av\.stand\.([a-z_]+)$/.exec(String(name))?.[1];
      if (!short) return problem(String(name), `role ${name} is not named av.stand.<role>`);
      if (!ROLES.includes(short)) return problem(String(name), `role ${name}: there is no roles/${short}`);
      used.add(short);
    };
    for (const entry of play.roles ?? []) {
      const name = typeof entry === 'string' ? entry : (entry.role ?? entry.name);
      useRole(name);
      if (typeof entry === 'object') {
        for (const key of Object.keys(entry)) if (!ROLE_ENTRY_KEYWORDS.has(key)) given.push(key);
        for (const key of Object.keys(entry.vars ?? {})) given.push(key);
      }
    }
    const tasks = [...(play.pre_tasks ?? []), ...(play.tasks ?? []), ...(play.post_tasks ?? [])];
    for (const task of tasks) {
      const include =
        task['ansible.builtin.include_role'] ??
        task.include_role ??
        task['ansible.builtin.import_role'] ??
        task.import_role;
      if (include) {
        useRole(include.name);
        for (const key of Object.keys(task.vars ?? {})) given.push(key);
      }
    }
    for (const key of Object.keys(play.vars ?? {})) given.push(key);
    // the roles these include themselves (prometheus includes alert_rules)
    for (const role of [...used]) for (const inner of includedRoles(role)) if (ROLES.includes(inner)) used.add(inner);
    const known = new Set(standVariables);
    for (const role of used) for (const name of roleVariables(role)) known.add(name);
    for (const name of given) {
      if (!name.startsWith('ansible_') && !known.has(name))
        problem(
          `${name}:`,
          `variable ${name} is in no defaults or argument_specs of the roles it uses (${[...used].join(', ')}) or of role stand`,
        );
    }
    // a role's variable read in an expression of the play's own tasks
    const prefixes = new RegExp(`\\b(?:${ROLES.join('|')})_[a-z0-9_]+\\b`, 'g');
    for (const task of tasks) {
      const expressions = Object.entries(task)
        .filter(([key]) => EXPRESSION_KEYS.has(key))
        .map(([, value]) => JSON.stringify(value));
      expressions.push(...(JSON.stringify(task).match(/\{\{.*?\}\}/g) ?? []));
      for (const expression of expressions) {
        for (const [name] of expression.matchAll(prefixes)) {
          if (!known.has(name) && !given.includes(name))
            problem(name, `variable ${name} is set by none of the roles it uses (${[...used].join(', ')})`);
        }
      }
    }
    const handlers = new Set([...used].flatMap(handlersOf));
    for (const handler of play.handlers ?? [])
      for (const name of [handler.name, ...[handler.listen ?? []].flat()]) if (name) handlers.add(name);
    for (const task of tasks) {
      for (const name of [task.notify ?? []].flat()) {
        if (!handlers.has(name))
          problem(
            `notify: ${name}`,
            `handler "${name}" is in none of the roles it uses (${[...used].join(', ')}) nor in the play`,
          );
      }
    }
  }
  return problems;
}

describe('the docs, against the repository', () => {
  const files = DOCS.map((file) => ({ file, lines: markdownLines(read(file)) }));

  test('every relative link and #anchor resolves', () => {
    const problems = [];
    for (const { file, lines } of files) {
      for (const line of lines) {
        for (const target of linksOf(line.prose)) {
          const broken = brokenLink(file, target);
          if (broken) problems.push(`${file}:${line.number}: ${broken}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  test('every `npm run` script they name is in package.json', () => {
    const scripts = JSON.parse(read('package.json')).scripts;
    const problems = [];
    for (const { file, lines } of files) {
      for (const line of lines) {
        for (const [, name] of line.raw.matchAll(/\bnpm run ([\w:.-]*[\w])/g)) {
          if (!Object.hasOwn(scripts, name))
            problems.push(`${file}:${line.number}: npm run ${name}: no such script in package.json`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  test('every flag of scripts/load.mjs and scripts/lab.mjs they name is one the script reads', () => {
    const problems = [];
    for (const { file, lines } of files) {
      for (const line of lines) {
        for (const { script, flag } of scriptFlags(line)) {
          const known = SCRIPTS[script];
          if (!known.has(flag) && !(flag.startsWith('no-') && known.has(flag.slice(3))))
            problems.push(`${file}:${line.number}: ${script} has no flag --${flag}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  test(`the README keeps within ${README_CAPS.lines} lines, ${README_CAPS.words} words and ${README_CAPS.lineLength} characters a line outside code`, () => {
    const text = read('README.md');
    const lines = markdownLines(text);
    const problems = [];
    const count = text.endsWith('\n') ? lines.length - 1 : lines.length;
    if (count > README_CAPS.lines) problems.push(`README.md: ${count} lines, over ${README_CAPS.lines}`);
    const words = text.split(/\s+/).filter(Boolean).length;
    if (words > README_CAPS.words) problems.push(`README.md: ${words} words, over ${README_CAPS.words}`);
    for (const line of lines) {
      if (!line.inCode && line.raw.length > README_CAPS.lineLength)
        problems.push(`README.md:${line.number}: ${line.raw.length} characters, over ${README_CAPS.lineLength}`);
    }
    assert.deepEqual(problems, []);
  });

  test("every role README's example playbook parses and names only existing roles, handlers and variables", () => {
    const problems = [];
    for (const role of ROLES) {
      const file = `roles/${role}/README.md`;
      if (!existsSync(join(ROOT, file))) {
        problems.push(`${file}: missing`);
        continue;
      }
      const example = examplePlaybook(read(file));
      if (!example) problems.push(`${file}: no \`\`\`yaml block under "## Example Playbook"`);
      else problems.push(...playbookProblems(file, example));
    }
    assert.deepEqual(problems, []);
  });
});
