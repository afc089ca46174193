/**
 * Bulk user import jobs of the Auth0 emulator, as Auth0 documents them ("Bulk User Imports", `POST
 * /api/v2/jobs/users-imports`, `GET /api/v2/jobs/{id}` and `/errors`, the Management API's OpenAPI description):
 * - creation answers 202 (the API reference's code); the whole multipart payload may be at most 512,000 bytes (413
 *   "Payload content length greater than maximum allowed: 512000", so the file itself a little less); only a
 *   database connection takes users; at most 2 jobs of the tenant are active (pending or processing), a third gets
 *   Auth0's documented 429. That call is charged like any other; the users inside are not calls and spend nothing.
 * - a job waits `pendingMs`, then processes `usersPerSecond` users a second (default 111: an Auth0 answer on the
 *   community forum gives about 400,000 an hour on an Enterprise tenant), applying each user to the tenant as it is
 *   processed, so a job seen mid-way has inserted some. A file that is not a JSON array fails the job (Auth0
 *   accepts it and mails that it could not parse it); so does running past `timeoutMs` (2 h, documented).
 * - an invalid or conflicting user fails alone (summary.failed, and an entry of `/errors`); the job goes on.
 * - job data is gone after `retentionMs` (24 h, documented): the job answers 404 then.
 */
import { randomBytes } from "node:crypto";
import { type ImportUserError, parseMultipart, redacted, schemaErrors } from "./auth0-emulator-import-file.js";
import { apiError, HttpError, invalidBody, type Json, type JsonObject } from "./auth0-emulator-http.js";

export interface ImportJobSettings {
  /** Users processed per second once a job runs (default 111). */
  usersPerSecond: number;
  /** How long a job stays pending before it starts (default 100 ms). */
  pendingMs: number;
  /** From creation, after which an unfinished job fails (default 2 h, as documented). */
  timeoutMs: number;
  /** How long a job can be read (default 24 h, as documented). */
  retentionMs: number;
}

export const DEFAULT_IMPORT_SETTINGS: ImportJobSettings = { usersPerSecond: 111, pendingMs: 100, timeoutMs: 2 * 3600_000, retentionMs: 24 * 3600_000 };

/** The fields an import writes on a new user (no password unless the file had a hash). */
export interface ImportedProfile {
  email_verified: boolean;
  given_name?: string;
  family_name?: string;
  name?: string;
  nickname?: string;
  picture?: string;
  username?: string;
  blocked?: boolean;
  app_metadata?: JsonObject;
  user_metadata?: JsonObject;
  /** A marker derived from password_hash or custom_password_hash: the user has a password. */
  passwordHash?: string;
}

/** The "upsertable" fields: metadata replaces the stored object whole; email_verified is false unless sent. */
export type UpsertedFields = Pick<ImportedProfile, "email_verified" | "given_name" | "family_name" | "name" | "nickname" | "picture" | "app_metadata" | "user_metadata" | "passwordHash">;

/** What an import reads and writes in the tenant. */
export interface ImportTarget {
  connection(id: string): { name: string; strategy: string } | undefined;
  userIdByEmail(connection: string, email: string): string | undefined;
  userIdByUsername(connection: string, username: string): string | undefined;
  hasUser(userId: string): boolean;
  insert(connection: string, userId: string, email: string, profile: ImportedProfile): void;
  upsert(userId: string, fields: UpsertedFields): void;
}

export interface ImportStats {
  jobs: number;
  /** Completion emails Auth0 would have sent to the tenant's owners (one per ended job that asked for it). */
  completionEmails: number;
  usersInserted: number;
  usersUpdated: number;
  usersFailed: number;
}

interface Job {
  id: string;
  createdAt: number;
  connectionId: string;
  connection: string;
  upsert: boolean;
  externalId?: string;
  sendCompletionEmail: boolean;
  /** The file's entries, or undefined when it is not a JSON array. */
  users?: Json[];
  processed: number;
  owed: number;
  lastTick: number;
  /** Fail after this many users (the test hook), else undefined. */
  failAfter?: number;
  summary: { failed: number; updated: number; inserted: number; total: number };
  errors: { user: Json; errors: ImportUserError[] }[];
  seen: Map<string, Set<string>>;
  status: "pending" | "processing" | "completed" | "failed";
  statusDetails?: string;
  timer?: NodeJS.Timeout;
}

const MAX_PAYLOAD = 512_000;
const MAX_ACTIVE = 2;
const TICK_MS = 20;
const CONNECTION_ID_RE = /^con_[A-Za-z0-9]{16}$/;
const UPSERTABLE = ["given_name", "family_name", "name", "nickname", "picture"] as const;

export class ImportJobs {
  private readonly jobs = new Map<string, Job>();
  private failNext = 0;
  private readonly counts: ImportStats = { jobs: 0, completionEmails: 0, usersInserted: 0, usersUpdated: 0, usersFailed: 0 };

  constructor(
    private readonly target: ImportTarget,
    readonly settings: ImportJobSettings,
  ) {}

  /** Makes the next `count` jobs fail once half their users are processed (a real failed job may leave some in). */
  failNextJobs(count: number): void {
    this.failNext += count;
  }

  stats(): ImportStats {
    return { ...this.counts };
  }

  close(): void {
    for (const job of this.jobs.values()) clearInterval(job.timer);
  }

  /** Whether `id` is a readable import job. */
  has(id: string): boolean {
    const job = this.jobs.get(id);
    if (job && Date.now() - job.createdAt >= this.settings.retentionMs) {
      clearInterval(job.timer);
      this.jobs.delete(id);
    }
    return this.jobs.has(id);
  }

  create(contentType: string, body: Buffer): JsonObject {
    // hapi's payload limit, whose message Auth0's API reference quotes: it counts the whole multipart payload.
    if (body.length > MAX_PAYLOAD) throw new HttpError(413, { statusCode: 413, error: "Request Entity Too Large", message: `Payload content length greater than maximum allowed: ${MAX_PAYLOAD}` });
    const parts = parseMultipart(body, contentType);
    if (!parts) throw invalidBody("Invalid multipart payload format");
    const text = (name: string) => parts.get(name)?.toString("utf8");
    const file = parts.get("users");
    if (!file) throw apiError(400, "Must provide 'users' file as multipart part.", "invalid_body");
    if (file.length === 0) throw apiError(400, "Users file must not be empty.", "invalid_body");
    const connectionId = text("connection_id");
    if (connectionId === undefined) throw apiError(400, "Must provide 'connection_id' as multipart part.", "invalid_body");
    if (!CONNECTION_ID_RE.test(connectionId)) throw invalidBody(`String does not match pattern ${CONNECTION_ID_RE.source}`, "connection_id");
    const upsert = flag(text("upsert"), false, "upsert");
    const sendCompletionEmail = flag(text("send_completion_email"), true, "send_completion_email");
    const externalId = text("external_id");
    const connection = this.target.connection(connectionId);
    if (!connection) throw apiError(400, "The connection does not exist.", "inexistent_connection");
    if (connection.strategy !== "auth0") throw apiError(400, "Connection must be a database connection.", "invalid_body");
    const active = [...this.jobs.keys()].filter((id) => this.has(id) && this.advance(this.jobs.get(id) as Job)).length;
    if (active >= MAX_ACTIVE) {
      // Auth0's documented body, which carries no errorCode.
      throw new HttpError(429, { statusCode: 429, error: "Too Many Requests", message: `There are ${MAX_ACTIVE} active import users jobs, please wait until some of them are finished and try again` });
    }
    const users = parseUsers(file);
    const now = Date.now();
    const job: Job = {
      id: `job_${randomBytes(8).toString("hex")}`,
      createdAt: now,
      connectionId,
      connection: connection.name,
      upsert,
      ...(externalId !== undefined ? { externalId } : {}),
      sendCompletionEmail,
      users,
      processed: 0,
      owed: 0,
      lastTick: now,
      ...(this.failNext > 0 ? { failAfter: Math.floor((users?.length ?? 0) / 2) } : {}),
      summary: { failed: 0, updated: 0, inserted: 0, total: users?.length ?? 0 },
      errors: [],
      seen: new Map([["email", new Set()], ["user_id", new Set()], ["username", new Set()]]),
      status: "pending",
    };
    if (this.failNext > 0) this.failNext--;
    job.timer = setInterval(() => this.advance(job), TICK_MS);
    job.timer.unref();
    this.jobs.set(job.id, job);
    this.counts.jobs++;
    const out = this.view(job);
    return { ...out, upsert, send_completion_email: sendCompletionEmail };
  }

  get(id: string): JsonObject {
    const job = this.mustGet(id);
    this.advance(job);
    return this.view(job);
  }

  /** `GET /jobs/{id}/errors`: a failed job's own failure, else the users that failed (204 when none). */
  errors(id: string): [number, unknown] {
    const job = this.mustGet(id);
    this.advance(job);
    if (job.status === "failed" && job.statusDetails !== undefined) {
      const { type, status, created_at, id: jobId, connection_id } = this.view(job);
      return [200, { type, status, created_at, id: jobId, connection_id, status_details: job.statusDetails }];
    }
    return job.errors.length === 0 ? [204, undefined] : [200, structuredClone(job.errors)];
  }

  private mustGet(id: string): Job {
    if (!this.has(id)) throw apiError(404, "The job does not exist.", "inexistent_job");
    return this.jobs.get(id) as Job;
  }

  /** Moves a job on to `now`; returns whether it is still active. */
  private advance(job: Job, now = Date.now()): boolean {
    if (job.status === "completed" || job.status === "failed") return false;
    const deadline = job.createdAt + this.settings.timeoutMs;
    const start = job.createdAt + this.settings.pendingMs;
    if (now >= start && job.status === "pending") [job.status, job.lastTick] = ["processing", start];
    if (job.status === "processing") {
      if (!job.users) return this.end(job, "failed", "Failed to parse users file JSON when importing users.");
      // Owed users accumulate at the rate of the moment, so a rate changed at runtime applies from then on; none
      // are owed past the deadline.
      const until = Math.min(now, deadline);
      job.owed += (Math.max(0, until - job.lastTick) / 1000) * this.settings.usersPerSecond;
      job.lastTick = Math.max(job.lastTick, until);
      const stop = job.failAfter ?? job.users.length;
      while (job.owed >= 1 && job.processed < stop) {
        job.owed--;
        this.process(job, job.users[job.processed] ?? null);
        job.processed++;
      }
      if (job.processed >= stop) {
        if (job.failAfter === undefined) return this.end(job, "completed");
        return this.end(job, "failed", "The job failed while importing users.");
      }
    }
    if (now >= deadline) return this.end(job, "failed", `The job timed out after ${this.settings.timeoutMs / 1000} seconds.`);
    return true;
  }

  private end(job: Job, status: "completed" | "failed", details?: string): false {
    clearInterval(job.timer);
    job.status = status;
    if (details !== undefined) job.statusDetails = details;
    // Users never reached count as failed, so that inserted + updated + failed = total.
    job.summary.failed += job.summary.total - job.processed;
    if (job.sendCompletionEmail) this.counts.completionEmails++;
    return false;
  }

  /** Applies one entry of the file to the tenant, or records why it failed. */
  private process(job: Job, entry: Json): void {
    const errors = schemaErrors(entry);
    if (errors.length === 0) errors.push(...this.apply(job, entry as JsonObject));
    if (errors.length === 0) return;
    job.errors.push({ user: redacted(entry), errors });
    job.summary.failed++;
    this.counts.usersFailed++;
  }

  private apply(job: Job, u: JsonObject): ImportUserError[] {
    const email = (u.email as string).toLowerCase();
    const given = { email, user_id: u.user_id, username: u.username };
    // A user listed twice fails the second time: Auth0 does not insert then update.
    for (const [field, value] of Object.entries(given)) {
      if (typeof value !== "string") continue;
      const seen = job.seen.get(field) as Set<string>;
      if (seen.has(value)) return [{ code: "DUPLICATED_USER", message: `A user with this ${field} was already provided.` }];
      seen.add(value);
    }
    const t = this.target;
    const userId = typeof u.user_id === "string" ? `auth0|${u.user_id}` : undefined;
    const existing = t.userIdByEmail(job.connection, email);
    if (userId !== undefined && userId !== existing && t.hasUser(userId)) return [{ code: "DUPLICATED_USER", message: "A user with this user_id already exists." }];
    if (existing !== undefined && !job.upsert) return [{ code: "CONFLICT_EMAIL", message: "The user already exists." }];
    if (existing === undefined && typeof u.username === "string" && t.userIdByUsername(job.connection, u.username) !== undefined) {
      return [{ code: "CONFLICT_USERNAME", message: "The username already exists." }];
    }
    const fields: UpsertedFields = { email_verified: u.email_verified === true };
    for (const k of UPSERTABLE) if (typeof u[k] === "string") fields[k] = u[k];
    if (u.app_metadata !== undefined) fields.app_metadata = structuredClone(u.app_metadata as JsonObject);
    if (u.user_metadata !== undefined) fields.user_metadata = structuredClone(u.user_metadata as JsonObject);
    if (existing !== undefined) {
      // blocked, email, user_id, username and password_hash are not upserted; custom_password_hash is.
      t.upsert(existing, { ...fields, ...(u.custom_password_hash !== undefined ? { passwordHash: "imported" } : {}) });
      job.summary.updated++;
      this.counts.usersUpdated++;
      return [];
    }
    const profile: ImportedProfile = { ...fields, ...(typeof u.blocked === "boolean" ? { blocked: u.blocked } : {}) };
    if (typeof u.username === "string") profile.username = u.username;
    if (u.password_hash !== undefined || u.custom_password_hash !== undefined) profile.passwordHash = "imported";
    t.insert(job.connection, userId ?? `auth0|${randomBytes(12).toString("hex")}`, email, profile);
    job.summary.inserted++;
    this.counts.usersInserted++;
    return [];
  }

  private view(job: Job): JsonObject {
    const out: JsonObject = { type: "users_import", status: job.status, connection_id: job.connectionId, connection: job.connection, created_at: new Date(job.createdAt).toISOString(), id: job.id };
    if (job.externalId !== undefined) out.external_id = job.externalId;
    if (job.status === "processing") {
      const total = job.summary.total;
      out.percentage_done = total === 0 ? 0 : Math.floor((job.processed / total) * 100);
      out.time_left_seconds = Math.ceil((total - job.processed) / Math.max(this.settings.usersPerSecond, 1e-9));
    }
    if (job.status === "completed" || job.status === "failed") out.summary = { ...job.summary };
    if (job.statusDetails !== undefined) out.status_details = job.statusDetails;
    return out;
  }
}

/** A boolean multipart field ("true"/"false", as the SDK sends it). */
function flag(v: string | undefined, dflt: boolean, name: string): boolean {
  if (v === undefined) return dflt;
  if (v === "true" || v === "false") return v === "true";
  throw invalidBody("Expected type boolean but found type string", name);
}

function parseUsers(file: Buffer): Json[] | undefined {
  try {
    const v = JSON.parse(file.toString("utf8")) as Json;
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
