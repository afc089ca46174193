/**
 * A Redshift Data API emulator: an HTTP server speaking the AWS JSON 1.1 protocol that
 * `@aws-sdk/client-redshift-data` uses (ExecuteStatement, DescribeStatement, GetStatementResult with NextToken
 * pages, CancelStatement), running the SQL on PGlite (Postgres in WebAssembly). The real adapter talks to it
 * unchanged, with only its endpoint pointed here. Listens on 127.0.0.1 only.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { PGlite } from "@electric-sql/pglite";
import type { S3Client } from "@aws-sdk/client-s3";
import { DATA_API_RESULT_LIMIT_BYTES } from "../functions/core/extract-config.js";
import { parseUnload, runUnload, UnloadSyntaxError, type UnloadCommand } from "./redshift-unload.js";

type Field = { isNull?: boolean; stringValue?: string; longValue?: number; doubleValue?: number; booleanValue?: boolean; blobValue?: string };
type Status = "SUBMITTED" | "PICKED" | "STARTED" | "FINISHED" | "FAILED" | "ABORTED";

interface Statement {
  id: string;
  /** The identity that executed it (the request's access key): only it may describe, read or cancel it. */
  owner: string;
  sql: string;
  database: string;
  status: Status;
  error?: string;
  createdAt: number;
  updatedAt: number;
  columns: { name: string; label: string; typeName: string; nullable: number }[];
  records: Field[][];
  hasResultSet: boolean;
  /** ResultSize: the bytes of the result as the API returns it (the records' JSON). */
  size: number;
  /** Rows an UNLOAD wrote (ResultRows of a statement without a result set). */
  affected?: number;
}

export interface RedshiftDataEmulatorOptions {
  /** An existing PGlite (e.g. with a data directory); an in-memory one is created otherwise. */
  db?: PGlite;
  /** Rows per GetStatementResult page. */
  pageSize?: number;
  /** Time a statement stays SUBMITTED/STARTED before it runs, so pollers really poll. */
  queueDelayMs?: number;
  port?: number;
  /** Fault: GetStatementResult fails (500, every attempt) from this 1-based page on, as a lost connection would. */
  failFromPage?: number;
  /**
   * The result set limit GetStatementResult enforces, in bytes of ResultSize (AWS: 500 MB); a test lowers it to meet
   * it with a few rows. A larger result is refused as the Data API does: "Database response exceeded size limit".
   */
  resultLimitBytes?: number;
  /** Where UNLOAD writes (a local S3 stand-in); without it an UNLOAD fails as with no access to the bucket. */
  s3?: S3Client;
  /** Slices of the emulated cluster: a PARALLEL UNLOAD writes one file or more per slice. */
  slices?: number;
}

class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const TYPE_NAMES: Record<number, string> = {
  16: "bool",
  17: "bytea",
  20: "int8",
  21: "int2",
  23: "int4",
  25: "text",
  114: "super",
  700: "float4",
  701: "float8",
  1042: "bpchar",
  1043: "varchar",
  1082: "date",
  1114: "timestamp",
  1184: "timestamptz",
  1700: "numeric",
  3802: "super",
};
const LONG_TYPES = new Set([20, 21, 23]);
const DOUBLE_TYPES = new Set([700, 701]);
// Keep Redshift's text form for these instead of PGlite's JS objects.
const TEXT_PARSERS = Object.fromEntries([20, 114, 1082, 1114, 1184, 3802, 1700].map((t) => [t, (v: string) => v]));

function toField(value: unknown, typeId: number): Field {
  if (value === null || value === undefined) return { isNull: true };
  if (LONG_TYPES.has(typeId)) return { longValue: Number(value) };
  if (DOUBLE_TYPES.has(typeId)) return { doubleValue: Number(value) };
  if (typeof value === "boolean") return { booleanValue: value };
  if (value instanceof Uint8Array) return { blobValue: Buffer.from(value).toString("base64") };
  if (typeof value === "object") return { stringValue: JSON.stringify(value) };
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "number" || typeof value === "bigint") return { stringValue: value.toString() };
  throw new Error(`unsupported column value of type ${typeof value}`);
}

/** `:name` placeholders -> `$n`, outside quoted strings; `::casts` are left alone. */
export function bindNamedParameters(sql: string, params: { name: string; value: string }[]): { text: string; values: string[] } {
  const byName = new Map(params.map((p) => [p.name, p.value]));
  const order: string[] = [];
  let out = "";
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === ":" && sql[i + 1] === ":") {
      out += "::";
      i += 2;
      continue;
    }
    const m = c === ":" ? /^:([A-Za-z_][A-Za-z0-9_]*)/.exec(sql.slice(i)) : null;
    if (m) {
      const name = m[1] as string;
      if (!byName.has(name)) throw new ApiError("ValidationException", `Parameter ${name} is used in the SQL but has no value`);
      let n = order.indexOf(name);
      if (n === -1) n = order.push(name) - 1;
      out += `$${n + 1}`;
      i += m[0].length;
      continue;
    }
    out += c;
    i++;
  }
  return { text: out, values: order.map((n) => byName.get(n) as string) };
}

export class RedshiftDataEmulator {
  readonly db: PGlite;
  private readonly ownsDb: boolean;
  private readonly statements = new Map<string, Statement>();
  private server?: Server;
  pageSize: number;
  private readonly queueDelayMs: number;
  /** Calls by action, for tests. */
  readonly calls: Record<string, number> = {};
  /** SQL of every statement run, for tests. */
  readonly history: string[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: RedshiftDataEmulatorOptions = {}) {
    this.db = options.db ?? new PGlite();
    this.ownsDb = !options.db;
    this.pageSize = options.pageSize ?? 1000;
    this.queueDelayMs = options.queueDelayMs ?? 20;
  }

  async start(): Promise<string> {
    await this.db.waitReady;
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port ?? 0, "127.0.0.1", () => resolve());
    });
    this.server = server;
    return this.endpoint;
  }

  get endpoint(): string {
    if (!this.server) throw new Error("emulator not started");
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    await this.chain.catch(() => undefined);
    if (this.ownsDb) await this.db.close();
  }

  /** Frees the stored results (Redshift keeps them 24 h; the emulator until asked). */
  forget(): void {
    this.statements.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers["x-amz-target"] ?? "");
    const action = target.split(".")[1] ?? "";
    this.calls[action] = (this.calls[action] ?? 0) + 1;
    let status = 200;
    let body: unknown;
    try {
      const input = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
      body = this.dispatch(action, input, callerOf(req));
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError("InternalServerException", (err as Error).message, 500);
      status = e.status;
      body = { __type: e.type, message: e.message };
      res.setHeader("x-amzn-errortype", e.type);
    }
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() });
    res.end(JSON.stringify(body));
  }

  private dispatch(action: string, input: Record<string, unknown>, caller: string): unknown {
    switch (action) {
      case "ExecuteStatement":
        return this.execute(input, caller);
      case "DescribeStatement":
        return this.describe(this.get(input.Id, caller, action));
      case "GetStatementResult":
        return this.result(this.get(input.Id, caller, action), input.NextToken as string | undefined);
      case "CancelStatement": {
        const s = this.get(input.Id, caller, action);
        if (s.status === "FINISHED" || s.status === "FAILED" || s.status === "ABORTED") {
          throw new ApiError("ValidationException", `Could not cancel a query that is already in ${s.status} state with ID: ${s.id}`);
        }
        s.status = "ABORTED";
        s.updatedAt = Date.now();
        return { Status: true };
      }
      default:
        throw new ApiError("UnknownOperationException", `The emulator does not implement ${action || "(no X-Amz-Target)"}`);
    }
  }

  /**
   * A statement, for its owner only: the stack's roles may describe, read and cancel only the statements they ran
   * (the redshift-data:statement-owner-iam-userid condition), so another identity's call is denied as IAM denies it.
   */
  private get(id: unknown, caller: string, action: string): Statement {
    const s = typeof id === "string" ? this.statements.get(id) : undefined;
    if (!s) throw new ApiError("ResourceNotFoundException", `Query does not exist: ${String(id)}`);
    if (s.owner !== caller) {
      throw new ApiError("AccessDeniedException", `User: ${caller} is not authorized to perform: redshift-data:${action} because no identity-based policy allows the redshift-data:${action} action on a statement another identity ran`, 400);
    }
    return s;
  }

  private execute(input: Record<string, unknown>, owner: string): unknown {
    if (typeof input.Sql !== "string" || input.Sql.trim() === "") throw new ApiError("ValidationException", "Sql is required");
    if (typeof input.Database !== "string") throw new ApiError("ValidationException", "Database is required");
    if (!input.WorkgroupName === !input.ClusterIdentifier) {
      throw new ApiError("ValidationException", "Exactly one of WorkgroupName or ClusterIdentifier is required");
    }
    const params = (input.Parameters as { name: string; value: string }[] | undefined) ?? [];
    let unload: UnloadCommand | undefined;
    try {
      unload = parseUnload(input.Sql);
    } catch (err) {
      if (err instanceof UnloadSyntaxError) throw new ApiError("ValidationException", err.message);
      throw err;
    }
    // UNLOAD's query is quoted text: parameters are not bound inside it.
    const bound = unload ? { text: input.Sql, values: [] } : bindNamedParameters(input.Sql, params);
    const now = Date.now();
    const s: Statement = { id: randomUUID(), owner, sql: input.Sql, database: input.Database, status: "SUBMITTED", createdAt: now, updatedAt: now, columns: [], records: [], hasResultSet: false, size: 0 };
    this.statements.set(s.id, s);
    this.history.push(input.Sql);
    // Statements run one at a time, like a single-slot queue, after a short wait in SUBMITTED/STARTED.
    this.chain = this.chain.then(() => (unload ? this.runUnload(s, unload) : this.run(s, bound)));
    return { Id: s.id, CreatedAt: now / 1000, Database: input.Database, WorkgroupName: input.WorkgroupName, ClusterIdentifier: input.ClusterIdentifier };
  }

  private async run(s: Statement, bound: { text: string; values: string[] }): Promise<void> {
    await sleep(this.queueDelayMs / 2);
    if (s.status === "ABORTED") return;
    s.status = "STARTED";
    s.updatedAt = Date.now();
    await sleep(this.queueDelayMs / 2);
    if (s.status !== "STARTED") return;
    try {
      const r = await this.db.query<unknown[]>(bound.text, bound.values, { rowMode: "array", parsers: TEXT_PARSERS });
      if (s.status !== "STARTED") return;
      s.columns = r.fields.map((f) => ({ name: f.name, label: f.name, typeName: TYPE_NAMES[f.dataTypeID] ?? "varchar", nullable: 1 }));
      s.records = r.rows.map((row) => row.map((v, i) => toField(v, r.fields[i]?.dataTypeID ?? 25)));
      s.hasResultSet = r.fields.length > 0;
      s.size = s.records.reduce((n, rec) => n + JSON.stringify(rec).length, 0);
      s.status = "FINISHED";
    } catch (err) {
      s.status = "FAILED";
      s.error = `ERROR: ${(err as Error).message}`;
    }
    s.updatedAt = Date.now();
  }

  private async runUnload(s: Statement, cmd: UnloadCommand): Promise<void> {
    await sleep(this.queueDelayMs / 2);
    if (s.status === "ABORTED") return;
    s.status = "STARTED";
    s.updatedAt = Date.now();
    try {
      if (!this.options.s3) throw new Error(`S3ServiceException:Access Denied, the cluster cannot write s3://${cmd.bucket}/${cmd.prefix}`);
      const r = await runUnload(this.db, this.options.s3, cmd, { slices: this.options.slices ?? 2, textParsers: TEXT_PARSERS });
      if (s.status !== "STARTED") return;
      s.affected = r.rows;
      s.status = "FINISHED";
    } catch (err) {
      s.status = "FAILED";
      s.error = `ERROR: ${(err as Error).message}`;
    }
    s.updatedAt = Date.now();
  }

  private describe(s: Statement): unknown {
    return {
      Id: s.id,
      Status: s.status,
      Error: s.error,
      QueryString: s.sql,
      Database: s.database,
      HasResultSet: s.hasResultSet,
      ResultRows: s.status === "FINISHED" ? (s.hasResultSet ? s.records.length : (s.affected ?? 0)) : -1,
      ResultSize: s.status === "FINISHED" ? s.size : -1,
      CreatedAt: s.createdAt / 1000,
      UpdatedAt: s.updatedAt / 1000,
      Duration: (s.updatedAt - s.createdAt) * 1_000_000,
    };
  }

  private result(s: Statement, token: string | undefined): unknown {
    if (s.status !== "FINISHED") throw new ApiError("ValidationException", `Query ${s.id} is ${s.status}; results are available once it has FINISHED`);
    if (!s.hasResultSet) throw new ApiError("ValidationException", `Query ${s.id} does not have result set`);
    if (s.size > (this.options.resultLimitBytes ?? DATA_API_RESULT_LIMIT_BYTES)) throw new ApiError("ValidationException", "Database response exceeded size limit");
    const offset = token ? Number(Buffer.from(token, "base64url").toString("utf8")) : 0;
    if (!Number.isInteger(offset) || offset < 0 || offset > s.records.length) throw new ApiError("ValidationException", "Invalid NextToken");
    const page = Math.floor(offset / this.pageSize) + 1;
    if (this.options.failFromPage !== undefined && page >= this.options.failFromPage) {
      throw new ApiError("InternalServerException", `injected fault: the connection was lost reading page ${page}`, 500);
    }
    const end = Math.min(s.records.length, offset + this.pageSize);
    return {
      Records: s.records.slice(offset, end),
      ColumnMetadata: s.columns,
      TotalNumRows: s.records.length,
      NextToken: end < s.records.length ? Buffer.from(String(end)).toString("base64url") : undefined,
    };
  }
}

/** The caller's identity: the access key id of its SigV4 Authorization header (anonymous without one). */
function callerOf(req: IncomingMessage): string {
  const m = /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization ?? ""));
  return m?.[1] ?? "anonymous";
}
