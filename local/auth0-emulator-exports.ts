/**
 * Bulk user export jobs of the Auth0 emulator, as Auth0 documents them ("Bulk user exports", `POST
 * /api/v2/jobs/users-exports`, `GET /api/v2/jobs/{id}`): a job goes pending -> processing -> completed (or failed)
 * over a set time; once completed, each read of it carries a fresh `location`, a presigned-URL-like link on the
 * emulator's own server, valid for a set time (60 s by default, as documented), after which it answers 403 with
 * S3's XML "Request has expired". The file is the gzip-compressed NDJSON of the selected fields of the users as
 * they were when the job completed. Downloads need no token and are not rate limited. CSV is not emulated.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { apiError, invalidBody, type Json, type JsonObject, typeName } from "./auth0-emulator-http.js";

export interface ExportJobSettings {
  /** From creation to completion (pending for the first third, processing after). Default 300 ms. */
  durationMs: number;
  /** How long a `location` stays valid. Default 60 s, as Auth0 documents. */
  locationTtlMs: number;
  /** Pause before each 16 KiB chunk of a download, to stream it slowly. Default 0. */
  streamDelayMs: number;
}

export const DEFAULT_EXPORT_SETTINGS: ExportJobSettings = { durationMs: 300, locationTtlMs: 60_000, streamDelayMs: 0 };

/** What an export reads from the tenant. */
export interface ExportSource {
  /** The name of the connection with that id, if there is one. */
  connectionName(id: string): string | undefined;
  /** The users of a connection (all users without one), as the Management API returns them. */
  users(connection: string | undefined): JsonObject[];
  /** The emulator's base URL, for locations. */
  baseUrl(): string;
}

/** Where downloads are served; the server routes GETs under it here, before authentication and rate limiting. */
export const EXPORT_DOWNLOAD_PREFIX = "/user-exports/";

/** The fields of an export without `fields`: the normalized profile's top-level attributes. */
export const DEFAULT_EXPORT_FIELDS = [
  "user_id",
  "email",
  "email_verified",
  "username",
  "phone_number",
  "phone_verified",
  "name",
  "given_name",
  "family_name",
  "nickname",
  "picture",
  "blocked",
  "created_at",
  "updated_at",
];

interface ExportField {
  name: string;
  export_as?: string;
}

interface Job {
  id: string;
  createdAt: number;
  durationMs: number;
  connectionId?: string;
  connection?: string;
  limit?: number;
  fields?: ExportField[];
  fail: boolean;
  /** Set when the job ends: the gzipped file, or "failed". */
  result?: Buffer | "failed";
  timer?: NodeJS.Timeout;
}

const BODY_PROPS = new Set(["connection_id", "format", "limit", "fields"]);
const CONNECTION_ID_RE = /^con_[A-Za-z0-9]{16}$/;

export class ExportJobs {
  private readonly jobs = new Map<string, Job>();
  /** Signature of each location handed out -> the job it opens and when it expires. */
  private readonly locations = new Map<string, { jobId: string; expiresAt: number }>();
  private failNext = 0;

  constructor(
    private readonly source: ExportSource,
    readonly settings: ExportJobSettings,
    private readonly fileName: string,
  ) {}

  /** Makes the next `count` jobs end with status "failed". */
  failNextJobs(count: number): void {
    this.failNext += count;
  }

  close(): void {
    for (const job of this.jobs.values()) clearTimeout(job.timer);
  }

  create(body: JsonObject): JsonObject {
    const extra = Object.keys(body).filter((k) => !BODY_PROPS.has(k));
    if (extra.length > 0) throw invalidBody(`Additional properties not allowed: ${extra.join(",")}`);
    const { connection_id: connectionId, format = "csv", limit } = body;
    if (connectionId !== undefined) {
      if (typeof connectionId !== "string") throw invalidBody(`Expected type string but found type ${typeName(connectionId)}`, "connection_id");
      if (!CONNECTION_ID_RE.test(connectionId)) throw invalidBody(`String does not match pattern ${CONNECTION_ID_RE.source}`, "connection_id");
    }
    if (format !== "json" && format !== "csv") throw invalidBody(`No enum match for: ${JSON.stringify(format)}`, "format");
    if (limit !== undefined) {
      if (typeof limit !== "number" || !Number.isInteger(limit)) throw invalidBody(`Expected type integer but found type ${typeName(limit)}`, "limit");
      if (limit < 1) throw invalidBody(`Value ${limit} is less than minimum 1`, "limit");
    }
    const fields = body.fields === undefined ? undefined : parseFields(body.fields);
    const connection = connectionId === undefined ? undefined : this.source.connectionName(connectionId);
    if (connectionId !== undefined && connection === undefined) throw apiError(400, "The connection does not exist.", "inexistent_connection");
    if (format === "csv") throw apiError(400, "csv export is not supported by the emulator (send format json)", "emulator_unsupported");
    const job: Job = {
      id: `job_${randomAlphanumeric(16)}`,
      createdAt: Date.now(),
      durationMs: this.settings.durationMs,
      ...(connectionId !== undefined ? { connectionId, connection } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(fields ? { fields } : {}),
      fail: this.failNext > 0,
    };
    if (job.fail) this.failNext--;
    job.timer = setTimeout(() => this.complete(job), job.durationMs);
    job.timer.unref();
    this.jobs.set(job.id, job);
    return this.view(job, job.createdAt);
  }

  get(id: string): JsonObject {
    const job = this.jobs.get(id);
    if (!job) throw apiError(404, "The job does not exist.", "inexistent_job");
    const now = Date.now();
    if (now >= job.createdAt + job.durationMs) this.complete(job);
    return this.view(job, now);
  }

  /** Serves a download (any GET under EXPORT_DOWNLOAD_PREFIX); never throws. */
  async download(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator");
    const jobId = url.pathname.slice(EXPORT_DOWNLOAD_PREFIX.length).split("/")[0] ?? "";
    const signed = this.locations.get(url.searchParams.get("X-Amz-Signature") ?? "");
    const result = this.jobs.get(jobId)?.result;
    if (!signed || signed.jobId !== jobId || !(result instanceof Buffer)) {
      return s3Error(res, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.");
    }
    const now = Date.now();
    if (now >= signed.expiresAt) {
      const expires = url.searchParams.get("X-Amz-Expires") ?? "";
      return s3Error(res, "AccessDenied", "Request has expired", { "X-Amz-Expires": expires, Expires: new Date(signed.expiresAt).toISOString(), ServerTime: new Date(now).toISOString() });
    }
    res.writeHead(200, { "content-type": "application/gzip", "content-length": String(result.length) });
    const delay = this.settings.streamDelayMs;
    if (delay <= 0) return void res.end(result);
    for (let off = 0; off < result.length && !res.destroyed; off += 16 * 1024) {
      await sleep(delay);
      res.write(result.subarray(off, off + 16 * 1024));
    }
    res.end();
  }

  /** Ends a job (once): takes the snapshot its file holds, or fails it. */
  private complete(job: Job): void {
    if (job.result !== undefined) return;
    clearTimeout(job.timer);
    if (job.fail) {
      job.result = "failed";
      return;
    }
    const users = this.source.users(job.connection).slice(0, job.limit);
    const fields = job.fields ?? DEFAULT_EXPORT_FIELDS.map((name) => ({ name }));
    const lines = users.map((u) => `${JSON.stringify(selectFields(u, fields))}\n`).join("");
    job.result = gzipSync(Buffer.from(lines, "utf8"));
  }

  private view(job: Job, now: number): JsonObject {
    const elapsed = now - job.createdAt;
    const status = job.result === "failed" ? "failed" : job.result ? "completed" : elapsed < job.durationMs / 3 ? "pending" : "processing";
    const out: JsonObject = { type: "users_export", status };
    if (job.connectionId !== undefined) out.connection_id = job.connectionId;
    out.format = "json";
    if (job.limit !== undefined) out.limit = job.limit;
    if (job.fields) out.fields = job.fields.map((f) => ({ ...f }));
    if (job.connection !== undefined) out.connection = job.connection;
    out.created_at = new Date(job.createdAt).toISOString();
    out.id = job.id;
    if (status === "processing") {
      out.percentage_done = Math.min(99, Math.floor((elapsed / job.durationMs) * 100));
      out.time_left_seconds = Math.max(0, Math.ceil((job.durationMs - elapsed) / 1000));
    }
    if (status === "completed") out.location = this.location(job, now);
    return out;
  }

  /** A fresh presigned-like link to the job's file. */
  private location(job: Job, now: number): string {
    const signature = randomBytes(32).toString("hex");
    const ttl = this.settings.locationTtlMs;
    this.locations.set(signature, { jobId: job.id, expiresAt: now + ttl });
    const amzDate = new Date(now).toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
    const query = new URLSearchParams({
      "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
      "X-Amz-Date": amzDate,
      "X-Amz-Expires": String(Math.ceil(ttl / 1000)),
      "X-Amz-SignedHeaders": "host",
      "X-Amz-Signature": signature,
    });
    return `${this.source.baseUrl()}${EXPORT_DOWNLOAD_PREFIX}${job.id}/${encodeURIComponent(this.fileName)}.json.gz?${query.toString()}`;
  }
}

function parseFields(v: Json): ExportField[] {
  if (!Array.isArray(v)) throw invalidBody(`Expected type array but found type ${typeName(v)}`, "fields");
  return v.map((f, i) => {
    if (f === null || typeof f !== "object" || Array.isArray(f)) throw invalidBody(`Expected type object but found type ${typeName(f)}`, `fields[${i}]`);
    const extra = Object.keys(f).filter((k) => k !== "name" && k !== "export_as");
    if (extra.length > 0) throw invalidBody(`Additional properties not allowed: ${extra.join(",")}`, `fields[${i}]`);
    if (typeof f.name !== "string" || f.name === "") throw invalidBody("Missing required property: name", `fields[${i}]`);
    if (f.export_as !== undefined && typeof f.export_as !== "string") throw invalidBody(`Expected type string but found type ${typeName(f.export_as)}`, `fields[${i}].export_as`);
    return { name: f.name, ...(f.export_as !== undefined ? { export_as: f.export_as } : {}) };
  });
}

/** The value at a path such as `email`, `user_metadata.plan` or `identities[0].connection`; undefined if absent. */
export function valueAt(o: Json, path: string): Json | undefined {
  let cur: Json | undefined = o;
  for (const key of path.replace(/\[(\d+)\]/g, ".$1").split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = Array.isArray(cur) ? (/^\d+$/.test(key) ? cur[Number(key)] : undefined) : Object.hasOwn(cur, key) ? cur[key] : undefined;
  }
  return cur;
}

function selectFields(user: JsonObject, fields: ExportField[]): JsonObject {
  const out: JsonObject = {};
  for (const f of fields) {
    const v = valueAt(user, f.name);
    if (v !== undefined) out[f.export_as ?? f.name] = v;
  }
  return out;
}

function s3Error(res: ServerResponse, code: string, message: string, extra: Record<string, string> = {}): void {
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const fields = { Code: code, Message: message, ...extra, RequestId: randomBytes(8).toString("hex").toUpperCase() };
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${Object.entries(fields).map(([k, v]) => `<${k}>${esc(v)}</${k}>`).join("")}</Error>`;
  res.writeHead(403, { "content-type": "application/xml" });
  res.end(body);
}

function randomAlphanumeric(n: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let out = "";
  for (const b of randomBytes(n * 2)) {
    if (b < 248) out += alphabet[b % 62]; // 248 = 4 * 62: no bias
    if (out.length === n) return out;
  }
  return out + randomAlphanumeric(n - out.length);
}
