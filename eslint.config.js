import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The dependency rule of docs/architecture.md ("Layers"), one block per folder: an import against it fails the lint
 * (and npm test). Paths are matched on the import specifier, so every depth of "../" is covered.
 */
const up = (folder) => [`../${folder}`, `../${folder}/**`, `../../${folder}`, `../../${folder}/**`, `../../../${folder}`, `../../../${folder}/**`, `../../../../${folder}/**`];
const HANDLERS = ["extractor", "consumer", "reconcile", "segment", "importer", "watch"];
const handlerFolders = HANDLERS.flatMap((h) => [...up(h), ...up(`functions/${h}`)]);
const outer = ["lib", "cli", "local", "bench"].flatMap(up);
/** Core modules that decide (what a row becomes, what to write, what drifted): adapters may name their types only. */
const CORE_DECISIONS = ["decide", "write-plan", "membership-diff", "mirror", "drift", "row-claims", "profile", "pseudonymise", "hidden-values", "text-fold", "copy-sample", "fingerprint", "rejections", "unchanged-check", "run-indexes", "columns", "runs", "watch"];
const restrict = (files, groups, message, extra = []) => ({
  files,
  rules: { "@typescript-eslint/no-restricted-imports": ["error", { patterns: [{ group: groups, message }, ...extra] }] },
});
function layerRules() {
  return [
    restrict(
      ["functions/core/**/*.ts"],
      [...up("adapters"), ...up("flows"), ...up("commons"), ...handlerFolders, ...outer, "@aws-sdk/*", "@aws-lambda-powertools/*", "auth0", "auth0/*", "@middy/*", "node:fs", "node:net", "node:http", "node:https", "node:child_process"],
      "core is pure: it imports no other layer and does no I/O (docs/architecture.md, Layers).",
    ),
    restrict(
      ["functions/adapters/**/*.ts"],
      [...up("flows"), ...up("commons"), ...handlerFolders, ...outer],
      "adapters call their system and translate its errors; they import core only (docs/architecture.md, Layers).",
      [{ group: CORE_DECISIONS.flatMap((m) => [`**/core/${m}.js`]), allowTypeImports: true, message: "adapters decide nothing: a core decision is the flows' to call (types may be named)." }],
    ),
    restrict(["functions/commons/**/*.ts"], [...up("flows"), ...handlerFolders, ...outer], "commons builds the Lambdas' shared tools: it imports core and adapters only."),
    restrict(["functions/flows/**/*.ts"], [...handlerFolders, ...outer], "flows import core, adapters and commons, never a handler or the outer layers (docs/architecture.md, Layers)."),
    restrict(
      HANDLERS.map((h) => `functions/${h}/**/*.ts`),
      [...HANDLERS.flatMap(up), ...outer],
      "a handler is wiring only: core, adapters, commons and flows, never another handler or the outer layers.",
    ),
    restrict(["lib/**/*.ts", "bin/app.ts"], [...up("functions/adapters"), ...up("functions/flows"), ...up("functions/commons"), ...handlerFolders, ...["cli", "local", "bench"].flatMap(up)], "the CDK app imports only core (the config schema and catalogs)."),
    restrict(["cli/**/*.ts", "bin/auth0-sync.ts"], [...handlerFolders, ...["lib", "bench"].flatMap(up), ...up("local")], "the CLI imports core, adapters and flows, never a handler; only cli/targets/local.ts loads local/ (dynamically).", []),
    { files: ["cli/targets/local.ts"], rules: { "@typescript-eslint/no-restricted-imports": ["error", { patterns: [{ group: [...handlerFolders, ...["lib", "bench"].flatMap(up)], message: "the CLI imports core, adapters and flows, never a handler." }] }] } },
    restrict(["local/**/*.ts", "bench/**/*.ts"], [...handlerFolders, ...up("lib")], "local and bench run the flows with their own wiring, never a handler's folder."),
  ];
}

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
  ...layerRules(),
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
