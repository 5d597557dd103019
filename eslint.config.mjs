// Flat config. The rule that matters most: workflow code must stay deterministic,
// so workflows/ may not import Node built-ins or the client/worker/activity SDKs.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_'));

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.data/', 'coverage/', 'jest.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // Tool configuration in CommonJS (dependency-cruiser reads .dependency-cruiser.cjs).
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } } },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    languageOptions: { globals: {} },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
            ...nodeBuiltins.map((name) => ({ name: `node:${name}`, message: 'Workflow code must be deterministic: no Node built-ins.' })),
            { name: '@temporalio/client', message: 'Workflows must not import the client SDK.' },
            { name: '@temporalio/worker', message: 'Workflows must not import the worker SDK.' },
            { name: '@temporalio/activity', message: 'Workflows must not import the activity SDK.' },
            { name: 'axios', message: 'No I/O in workflows: call an activity.' },
            { name: 'express', message: 'No I/O in workflows.' },
          ],
          patterns: [
            { group: ['node:*'], message: 'Workflow code must be deterministic: no Node built-ins.' },
            { group: ['**/activities', '**/activities/*'], allowTypeImports: true, message: 'Import activity types only (import type).' },
            { group: ['**/dev/**', '**/src/clients/*', '**/src/ingress/*', '**/src/temporal/*', '**/src/cli/*', '**/src/config/*'], message: 'Workflows may import only src/domain.' },
          ],
        },
      ],
    },
  },
);
