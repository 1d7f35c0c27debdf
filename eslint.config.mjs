// ESLint with typescript-eslint's type-checked rules (recommended-type-checked) over the library
// and the scripts (`npm run lint`). Rules changed below say why.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'native/**',
      'artifacts/**',
      'runs/**',
      '.cache/**',
      'models/**',
      'examples/**',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Unused names fail; a leading underscore marks one kept on purpose (a destructured rest).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Shapes and counts go into error messages as they print ([2,3] -> "2,3").
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowArray: true, allowNullish: true },
      ],
      // String(v) of an unknown input is how an error message quotes what it got.
      '@typescript-eslint/no-base-to-string': 'off',
      // tfjs's ops return Tensor<Rank>: `tf.reshape(x, [b, t]) as tf.Tensor2D` names the rank for the
      // reader, which the rule would move into a type argument.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    // @huggingface/tokenizers' declarations are not found by the lint's type service (tsc finds
    // them), so every call on its Tokenizer would count as unsafe.
    files: ['src/text/tokenizer.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  { files: ['**/*.mjs', '**/*.js'], extends: [tseslint.configs.disableTypeChecked] },
);
