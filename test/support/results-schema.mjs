// results.json against docs/results.schema.json (JSON Schema 2020-12), with ajv: for every report the tests make.
import { readFileSync } from 'node:fs';
import Ajv2020Module from 'ajv/dist/2020.js';

const SCHEMA_FILE = new URL('../../docs/results.schema.json', import.meta.url);

// ajv is CommonJS: its class is the module's default export's default under NodeNext's typing, the module itself at run time
const Ajv2020 = /** @type {typeof Ajv2020Module.default} */ (/** @type {unknown} */ (Ajv2020Module));

let validate = null;

/** Throws, naming every place where `results` leaves the schema; `name` says which report it is. */
export function checkResultsSchema(results, name = 'results.json') {
  validate ??= new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true }).compile(
    JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')),
  );
  if (validate(results)) return;
  const problems = validate.errors.map(
    (e) =>
      `${e.instancePath || '(top)'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`,
  );
  throw new Error(`${name} does not match docs/results.schema.json:\n  ${problems.join('\n  ')}`);
}
