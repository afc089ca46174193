/**
 * How a warehouse source's result leaves Redshift (docs/scaling.md): through the Data API's GetStatementResult
 * (one statement, its result at most 500 MB), or written by Redshift itself to S3 with UNLOAD (parallel files, no
 * size limit) for segment workers to read. Pure: the schema and the choice between the two.
 */
import { z } from "zod";

/** The Data API's result set limit (AWS: "The Data API limit is 500 MB in the result set returned by the database"). */
export const DATA_API_RESULT_LIMIT_BYTES = 500 * 1024 * 1024;

/** UNLOAD's MAXFILESIZE bounds, in MB (Redshift: 5 MB to 6.2 GB). */
export const UNLOAD_FILE_SIZE_MB = { min: 5, max: 6200 } as const;

export const EXTRACT_MODES = ["auto", "data-api", "unload"] as const;
export type ExtractMode = (typeof EXTRACT_MODES)[number];

const ROLE_EXPECTED = "expected an IAM role ARN (arn:aws:iam::<account>:role/<name>) or 'default'";

export const unloadSchema = z.strictObject({
  /**
   * The role Redshift assumes to write the files: an IAM role ARN associated with the cluster or the serverless
   * namespace, or `default` (the namespace's default role). Its policy is in docs/deploy.md.
   */
  iamRole: z.union([z.literal("default"), z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/, ROLE_EXPECTED)], { error: ROLE_EXPECTED }),
  /** The bucket the files go to; when absent, the stack makes one (encrypted, SSL only, files expire in a day). */
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "expected an S3 bucket name (3-63 lower-case letters, digits, '.' and '-')")
    .optional(),
  /** Where in the bucket; each run writes below `<prefix><config name>/<run id>/`. */
  prefix: z
    .string()
    .regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, "expected a key prefix ending in '/' (or empty)")
    .default("unload/"),
  /** MAXFILESIZE: the largest file Redshift writes, so the largest segment a worker reads. */
  maxFileSizeMb: z.number().int().min(UNLOAD_FILE_SIZE_MB.min).max(UNLOAD_FILE_SIZE_MB.max).default(64),
  /** Segment workers at once (the Distributed Map's MaxConcurrency). */
  maxConcurrency: z.number().int().min(1).max(10_000).default(10),
  /**
   * With extract: auto, the largest result (in MB, as DescribeStatement's ResultSize counts it) read through the Data
   * API: a run first runs the query there, and a larger result is unloaded instead (docs/scaling.md).
   */
  autoDataApiMaxMb: z.number().min(0).max(500).default(100),
  /** Parquet keeps column types (decimals, timestamps, booleans) that CSV would turn into text. */
  format: z.literal("parquet", { error: "expected 'parquet' (the only format the segment workers read)" }).default("parquet"),
});
export type UnloadConfig = z.output<typeof unloadSchema>;

export const extractModeSchema = z.enum(EXTRACT_MODES, { error: "expected 'auto', 'data-api' or 'unload'" }).default("auto");

/**
 * The longest SQL (UTF-8 bytes) a run that may unload takes: the state machine's state (at most 256 KB) carries it
 * twice, in the UNLOAD statement and in the Data API's description of it, with its parameters and JSON escapes.
 */
export const UNLOAD_SQL_MAX_BYTES = 60_000;

/** The source's extract settings, checked together (a path and a message per problem). */
export function extractIssues(src: { extract: ExtractMode; unload?: UnloadConfig; sql?: string }): { path: string[]; message: string }[] {
  const bytes = new TextEncoder().encode(src.sql ?? "").length;
  if (src.unload && src.extract !== "data-api" && bytes > UNLOAD_SQL_MAX_BYTES) {
    return [{ path: ["sql"], message: `is ${bytes.toLocaleString("en-US")} bytes: a run that may unload takes at most ${UNLOAD_SQL_MAX_BYTES.toLocaleString("en-US")} (the state machine's state carries it twice, within Step Functions' 256 KB)` }];
  }
  if (src.extract === "unload" && !src.unload) {
    return [{ path: ["unload"], message: "is required with extract: unload (at least iamRole: the role Redshift writes the files with)" }];
  }
  if (src.extract === "data-api" && src.unload) {
    return [{ path: ["unload"], message: "is never used with extract: data-api: remove it, or set extract to auto or unload" }];
  }
  return [];
}

/**
 * Which path a run takes: `data-api` reads through the Data API (the extractor alone); `unload` unloads every run;
 * `measured` runs the query through the Data API first and, by its result's size (DescribeStatement's ResultSize
 * against source.unload.autoDataApiMaxMb), reads it there or unloads it. The last two are executions of the unload
 * state machine.
 */
export type ExtractPath = "data-api" | "unload" | "measured";

/** `unload` always unloads; `auto` measures when source.unload is configured and reads through the Data API otherwise. */
export function extractPath(src: { extract: ExtractMode; unload?: UnloadConfig }): ExtractPath {
  if (src.extract === "unload") return "unload";
  return src.extract === "auto" && src.unload !== undefined ? "measured" : "data-api";
}

/** Whether a config's runs are executions of the unload state machine (a warehouse source that may unload). */
export function unloads(source: { type: string; extract?: ExtractMode; unload?: UnloadConfig }): boolean {
  return source.type === "redshift" && extractPath({ extract: source.extract ?? "auto", unload: source.unload }) !== "data-api";
}

/** Whether the extractor may read the result through the Data API: always, but when every run unloads. */
export function readsThroughDataApi(source: { type: string; extract?: ExtractMode; unload?: UnloadConfig }): boolean {
  return source.type === "redshift" && extractPath({ extract: source.extract ?? "auto", unload: source.unload }) !== "unload";
}

/** The largest result a measured run reads through the Data API, in bytes. */
export function autoDataApiMaxBytes(unload: Pick<UnloadConfig, "autoDataApiMaxMb">): number {
  return Math.floor(unload.autoDataApiMaxMb * 1024 * 1024);
}

/** The state machine's measure (its autoDataApiMaxBytes): for a measured run's source, else none (every run unloads). */
export function measureOf(src: { extract: ExtractMode; unload?: UnloadConfig }): number | undefined {
  return extractPath(src) === "measured" && src.unload ? autoDataApiMaxBytes(src.unload) : undefined;
}

/** The one sentence a run ends with when its result is over the Data API's limit (so UNLOAD was not taken). */
export function resultTooLargeMessage(extract: ExtractMode, resultBytes: number | undefined, rows: number | undefined): string {
  const size = resultBytes === undefined ? "over 500 MB" : resultBytes >= 2 ** 20 ? `${Math.ceil(resultBytes / 2 ** 20).toLocaleString("en-US")} MB` : `${Math.ceil(resultBytes / 1024).toLocaleString("en-US")} KB`;
  const count = rows === undefined || rows < 0 ? "" : ` (${rows.toLocaleString("en-US")} rows)`;
  const fix = extract === "data-api" ? "set source.extract to auto (or unload) and configure source.unload (at least iamRole)" : "configure source.unload (at least iamRole)";
  return `The query's result is ${size}${count}, more than the Redshift Data API's 500 MB limit: ${fix} so Redshift writes it to S3 with UNLOAD (docs/scaling.md).`;
}

/**
 * The longest a run over an unloaded table may take: the state machine's timeout, and the run lock's lifetime (a
 * run whose execution died unseen frees the lock after it).
 */
export const UNLOAD_RUN_TIMEOUT_SECONDS = 6 * 3600;
