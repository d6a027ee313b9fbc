// ESLint for the scripts and their tests (scripts/, test/): the recommended rules, Node.js's globals.
// The exporter (exporter/, TypeScript) is checked by tsc with its own strict settings instead.
import js from '@eslint/js';
import globals from 'globals';

export default [
  {
    files: ['scripts/**/*.{mjs,js}', 'test/**/*.{mjs,js}'],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
];
