import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { validateConfig, warehouseOf } from "../../functions/core/config.js";
import { autoDataApiMaxBytes, extractPath, resultTooLargeMessage, unloads } from "../../functions/core/extract-config.js";
import { configProblems as problems } from "../helpers/config.js";

const base = {
  name: "acme-users",
  source: { workgroupName: "wg", database: "dev", sql: "SELECT 1" },
  auth0: { domain: "acme.eu.auth0.com", connection: "Username-Password-Authentication" },
};
const withSource = (source: Record<string, unknown>) => ({ ...base, source: { ...base.source, ...source } });
const ROLE = "arn:aws:iam::123456789012:role/redshift-unload";

describe("source.extract and source.unload", () => {
  it("default to auto with no UNLOAD: the Data API path, which needs no S3", () => {
    const src = warehouseOf(validateConfig(base));
    expect(src.extract).toBe("auto");
    expect(src.unload).toBeUndefined();
    expect(extractPath(src)).toBe("data-api");
  });

  it("fill UNLOAD's defaults: the stack's bucket, unload/ prefix, 64 MB files, Parquet", () => {
    const src = warehouseOf(validateConfig(withSource({ unload: { iamRole: ROLE } })));
    expect(src.unload).toEqual({ iamRole: ROLE, prefix: "unload/", maxFileSizeMb: 64, maxConcurrency: 10, autoDataApiMaxMb: 100, format: "parquet" });
    expect(warehouseOf(validateConfig(withSource({ unload: { iamRole: "default", bucket: "acme-unload" } }))).unload).toMatchObject({ iamRole: "default", bucket: "acme-unload" });
  });

  it("refuse what cannot work, naming the field", () => {
    expect(problems(withSource({ extract: "unload" }))).toContain("source.unload: is required with extract: unload (at least iamRole: the role Redshift writes the files with)");
    expect(problems(withSource({ extract: "data-api", unload: { iamRole: ROLE } }))).toContain("source.unload: is never used with extract: data-api: remove it, or set extract to auto or unload");
    expect(problems(withSource({ extract: "s3" }))).toContain("source.extract: expected 'auto', 'data-api' or 'unload'");
    expect(problems(withSource({ unload: { iamRole: "redshift-unload" } }))).toContain("source.unload.iamRole: expected an IAM role ARN (arn:aws:iam::<account>:role/<name>) or 'default'");
    expect(problems(withSource({ unload: { iamRole: ROLE, maxFileSizeMb: 2 } })).join()).toMatch(/source\.unload\.maxFileSizeMb: .*5/);
    expect(problems(withSource({ unload: { iamRole: ROLE, maxFileSizeMb: 7000 } })).join()).toMatch(/source\.unload\.maxFileSizeMb: .*6200/);
    expect(problems(withSource({ unload: { iamRole: ROLE, format: "csv" } }))).toContain("source.unload.format: expected 'parquet' (the only format the segment workers read)");
    expect(problems(withSource({ unload: { iamRole: ROLE, bucket: "Acme_Bucket" } })).join()).toMatch(/source\.unload\.bucket: expected an S3 bucket name/);
    expect(problems(withSource({ unload: { iamRole: ROLE, prefix: "no-slash" } })).join()).toMatch(/source\.unload\.prefix: expected a key prefix ending in '\/'/);
    expect(problems(withSource({ unload: { iamRole: ROLE, region: "x" } })).join()).toMatch(/source\.unload/);
  });

  it("auto measures the result first when UNLOAD is configured (Data API or UNLOAD by its size); unload always unloads; data-api never", () => {
    const unload = { iamRole: ROLE, prefix: "unload/", maxFileSizeMb: 64, maxConcurrency: 10, autoDataApiMaxMb: 100, format: "parquet" as const };
    fc.assert(
      fc.property(fc.constantFrom("auto" as const, "data-api" as const, "unload" as const), fc.boolean(), (extract, configured) => {
        const path = extractPath({ extract, unload: configured ? unload : undefined });
        expect(path).toBe(extract === "unload" ? "unload" : extract === "auto" && configured ? "measured" : "data-api");
        expect(unloads({ type: "redshift", extract, unload: configured ? unload : undefined })).toBe(path !== "data-api");
      }),
    );
  });

  it("autoDataApiMaxMb: 100 MB by default, at most the Data API's 500 MB, a fraction allowed", () => {
    expect(autoDataApiMaxBytes(warehouseOf(validateConfig(withSource({ unload: { iamRole: ROLE } }))).unload!)).toBe(100 * 2 ** 20);
    expect(autoDataApiMaxBytes({ autoDataApiMaxMb: 0.5 })).toBe(2 ** 19);
    expect(problems(withSource({ unload: { iamRole: ROLE, autoDataApiMaxMb: 600 } })).join()).toMatch(/source\.unload\.autoDataApiMaxMb: .*500/);
  });

  it("the limit's sentence says the size, the rows and what to configure", () => {
    expect(resultTooLargeMessage("auto", 734 * 2 ** 20, 2_100_000)).toBe(
      "The query's result is 734 MB (2,100,000 rows), more than the Redshift Data API's 500 MB limit: configure source.unload (at least iamRole) so Redshift writes it to S3 with UNLOAD (docs/scaling.md).",
    );
    expect(resultTooLargeMessage("data-api", undefined, undefined)).toMatch(/^The query's result is over 500 MB, .*: set source\.extract to auto \(or unload\) and configure source\.unload/);
  });
});
