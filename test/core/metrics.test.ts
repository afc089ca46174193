import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { METRICS, type MetricName } from "../../functions/core/metrics.js";

const ROOT = new URL("../..", import.meta.url).pathname;
/** Where each function's metrics are emitted: its flows (the handlers only wire them). */
const EMITTERS = {
  // The extractor runs a Data API extract, or the start and the finish of a run over an unloaded table.
  extractor: ["flows/extract-run.ts", "flows/run-admission.ts", "flows/unload-run.ts", "flows/mirror-run.ts"],
  consumer: ["flows/consumer-lambda.ts"],
  reconcile: ["flows/reconcile-lambda.ts"],
  segment: ["flows/segment-run.ts"],
  importer: ["flows/importer-lambda.ts"],
  watch: ["flows/watch-lambda.ts"],
} as const;
const sourceOf = (fn: keyof typeof EMITTERS) => EMITTERS[fn].map((f) => readFileSync(join(ROOT, "functions", f), "utf8")).join("\n");

describe("the metric catalog", () => {
  it("every metric is emitted by the function the catalog names (the dashboard reads it with that function's dimension)", () => {
    const src = { extractor: sourceOf("extractor"), consumer: sourceOf("consumer"), reconcile: sourceOf("reconcile"), segment: sourceOf("segment"), importer: sourceOf("importer"), watch: sourceOf("watch") };
    for (const [name, m] of Object.entries(METRICS) as [MetricName, (typeof METRICS)[MetricName]][]) {
      expect(src[m.fn], `${name} in functions/${m.fn}`).toContain(`"${name}"`);
      for (const other of Object.keys(src) as (keyof typeof src)[]) {
        if (other !== m.fn) expect(src[other], `${name} outside functions/${m.fn}`).not.toContain(`"${name}"`);
      }
    }
  });
});
