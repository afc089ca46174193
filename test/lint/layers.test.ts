/**
 * The dependency rule (eslint.config.js, docs/architecture.md "Layers") refuses an import against it: one
 * deliberate violation per layer, linted with the project's own config as the file it would be.
 */
import { readFileSync } from "node:fs";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../..", import.meta.url).pathname;
// Only the dependency rule runs, without the type-aware parse it does not need (the full lint is `npm run lint`).
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: [{ files: ["**/*.ts"], ...tseslint.configs.disableTypeChecked }],
  ruleFilter: ({ ruleId }) => ruleId === "@typescript-eslint/no-restricted-imports",
});

/** The rule's findings for a file of the project with one import added. */
async function violations(file: string, importLine: string): Promise<string[]> {
  const code = `${readFileSync(`${ROOT}${file}`, "utf8")}\n${importLine}\n`;
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}${file}` });
  return result!.messages.filter((m) => m.ruleId === "@typescript-eslint/no-restricted-imports").map((m) => m.message);
}

describe("the dependency rule", () => {
  it.each([
    ["functions/core/types.ts", 'import { runUserFlow } from "../flows/user-flow.js"; void runUserFlow;', /core is pure/],
    ["functions/core/types.ts", 'import { DynamoDBClient } from "@aws-sdk/client-dynamodb"; void DynamoDBClient;', /core is pure/],
    ["functions/adapters/sqs/sender.ts", 'import { decideUser } from "../../core/decide.js"; void decideUser;', /adapters decide nothing/],
    ["functions/adapters/sqs/sender.ts", 'import { runExtract } from "../../flows/extract-run.js"; void runExtract;', /adapters call their system/],
    ["functions/flows/page-flow.ts", 'import { handler } from "../consumer/handler.js"; void handler;', /flows import core, adapters and commons/],
    ["functions/consumer/handler.ts", 'import { handler as other } from "../extractor/handler.js"; void other;', /a handler is wiring only/],
    ["cli/dlq.ts", 'import { handler } from "../functions/consumer/handler.js"; void handler;', /the CLI imports core, adapters and flows/],
    ["cli/dlq.ts", 'import { LocalEnvironment } from "../local/pipeline.js"; void LocalEnvironment;', /only cli\/targets\/local\.ts loads local/],
    ["local/runtime/run.ts", 'import { handler } from "../../functions/extractor/handler.js"; void handler;', /never a handler's folder/],
    ["lib/pipeline.ts", 'import { Ledger } from "../functions/adapters/ledger/ledger.js"; void Ledger;', /the CDK app imports only core/],
  ])("%s: %s is refused", async (file, line, message) => {
    const found = await violations(file, line);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it("a type imported from a core decision is allowed in an adapter (it decides nothing)", async () => {
    expect(await violations("functions/adapters/sqs/sender.ts", 'import type { UserDecision } from "../../core/decide.js"; export type D = UserDecision;')).toEqual([]);
  });
});
