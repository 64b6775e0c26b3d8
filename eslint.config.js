// Lint rules: typed exports, and imports that only point upstream along the packet's path.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Type-only imports are allowed across stages: the public output types (src/monitor/types.ts)
// are the project's vocabulary; runtime imports must point upstream.
const upstreamOnly = (forbidden) => ({
  'no-restricted-imports': 'off',
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      patterns: forbidden.map((dir) => ({
        group: [`**/${dir}/*`],
        message: `imports point upstream only: this folder may not import from src/${dir}`,
        allowTypeImports: true,
      })),
    },
  ],
});

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/capture/**/*.ts', 'src/decode/**/*.ts'],
    rules: upstreamOnly(['attribute', 'account', 'monitor', 'cli', 'tui', 'serve']),
  },
  {
    files: ['src/attribute/**/*.ts'],
    rules: upstreamOnly(['account', 'monitor', 'cli', 'tui', 'serve']),
  },
  { files: ['src/account/**/*.ts'], rules: upstreamOnly(['monitor', 'cli', 'tui', 'serve']) },
  { files: ['src/monitor/**/*.ts'], rules: upstreamOnly(['cli', 'tui', 'serve']) },
  {
    files: ['src/history/**/*.ts'],
    rules: upstreamOnly(['capture', 'decode', 'attribute', 'account', 'cli', 'tui', 'serve']),
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: upstreamOnly(['capture', 'decode', 'attribute', 'account']),
  },
  // The terminal UI and the agent are side by side under the command: what both use (units,
  // container labels, filters) lives in src/present, below both.
  {
    files: ['src/tui/**/*.ts'],
    rules: upstreamOnly(['capture', 'decode', 'attribute', 'account', 'cli', 'serve']),
  },
  {
    files: ['src/serve/**/*.ts'],
    rules: upstreamOnly(['capture', 'decode', 'attribute', 'account', 'cli', 'tui']),
  },
  {
    files: ['src/present/**/*.ts'],
    rules: upstreamOnly(['capture', 'decode', 'attribute', 'account', 'cli', 'tui', 'serve']),
  },
  // src/text is below every presentation layer and above nothing of the chain.
  {
    files: ['src/text/**/*.ts'],
    rules: upstreamOnly([
      'capture',
      'decode',
      'attribute',
      'account',
      'monitor',
      'cli',
      'tui',
      'serve',
    ]),
  },
  // DisplayText (safe to show) is made only by src/text: no cast can mint one elsewhere.
  {
    files: ['**/*.ts'],
    ignores: ['src/text/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            ":matches(TSAsExpression, TSTypeAssertion) > TSTypeReference[typeName.name='DisplayText']",
          message:
            'DisplayText comes only from src/text (toDisplayText, displayLines, display``): never cast to it',
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
      },
    },
  },
);
