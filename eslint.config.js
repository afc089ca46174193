import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "cdk.out/", ".local-state/", "bench/results/"] },
  js.configs.recommended,
  // Type-aware rules: floating promises, unsafe any, throwing non-Errors and the like are caught with the types.
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
      // Emails, tokens and secrets must never reach a log line: production code logs via Powertools.
      "no-console": ["error", { allow: ["error"] }],
    },
  },
  {
    // Plain JavaScript (the config itself, the CLI's launcher) is not in the TypeScript project.
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ["local/**/*.ts", "bin/**/*.ts", "bench/**/*.ts", "test/**/*.ts"],
    rules: { "no-console": "off" },
  },
  {
    // The justified subset for tests: vitest's asymmetric matchers (expect.stringContaining, expect.any) are typed
    // `any`, and fakes implement async interfaces without awaiting anything.
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/require-await": "off",
    },
  },
);
