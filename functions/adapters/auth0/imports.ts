/**
 * Auth0's bulk user import jobs (`POST /api/v2/jobs/users-imports`, `GET /api/v2/jobs/{id}`, `GET
 * /api/v2/jobs/{id}/errors`): it makes the calls and translates their answers; what a job's errors mean for each
 * user is the core's (core/import-batches.ts). The calls go through the official SDK's jobs client over the Auth0
 * adapter's paced fetch and token, so they spend the "other" bucket and show in its stats.
 */
import { ConnectionsClient } from "auth0/connections";
import { JobsClient } from "auth0/jobs";
import type { ImportError, ImportUser } from "../../core/import-batches.js";
import type { Auth0Adapter } from "./client.js";
import { findConnectionId } from "./connections.js";
import { Auth0Error, callAuth0, redact } from "./errors.js";

/** A job as the sync follows it. */
export interface ImportJobView {
  id: string;
  status: "pending" | "processing" | "completed" | "failed";
  summary?: { inserted: number; updated: number; failed: number; total: number };
  /** Why it failed, when Auth0 says. */
  details?: string;
}

/** Auth0 has two import jobs of this tenant running already: this one was not created. */
export class ActiveImportJobsError extends Auth0Error {
  override readonly name = "ActiveImportJobsError";
}

const STATUSES = new Set(["pending", "processing", "completed", "failed"]);
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

export class Auth0Imports {
  private readonly jobs: JobsClient;
  private readonly connections: ConnectionsClient;
  private connectionIdPromise?: Promise<string>;

  constructor(
    adapter: Pick<Auth0Adapter, "clientOptions">,
    private readonly connection: string,
  ) {
    this.jobs = new JobsClient(adapter.clientOptions);
    this.connections = new ConnectionsClient(adapter.clientOptions);
  }

  /** Resolves what a submit needs before anything is sent (the connection's id, cached). */
  async prepare(): Promise<void> {
    await this.connectionId();
  }

  private connectionId(): Promise<string> {
    this.connectionIdPromise ??= findConnectionId(this.connections, this.connection).catch((err: unknown) => {
      this.connectionIdPromise = undefined;
      throw err;
    });
    return this.connectionIdPromise;
  }

  /**
   * Creates the job: never an upsert (it would replace metadata whole), no completion email (Auth0's default would
   * mail the tenant's owners for every file). `externalId` ties the job to the sync's batch. Returns the job id.
   */
  async submit(users: ImportUser[], externalId: string): Promise<string> {
    const connection_id = await this.connectionId();
    const file = new Blob([JSON.stringify(users)], { type: "application/json" });
    try {
      const job = await callAuth0("create users import", () =>
        this.jobs.usersImports.create({ users: file, connection_id, upsert: false, external_id: externalId, send_completion_email: false }),
      );
      if (typeof job.id !== "string" || job.id === "") throw new Auth0Error("create users import: Auth0 answered without a job id", { kind: "server", retryable: true });
      return job.id;
    } catch (err) {
      // Two jobs of this tenant run already (another client's, or a batch still followed): not created, try later.
      if (err instanceof Auth0Error && err.statusCode === 429 && /active import/i.test(err.auth0Message ?? err.message)) {
        throw new ActiveImportJobsError(`create users import: ${err.auth0Message ?? err.message}`, { kind: "rate_limited", retryable: true, statusCode: 429, cause: err });
      }
      throw err;
    }
  }

  /** The job's state (and its summary once completed). */
  async job(jobId: string): Promise<ImportJobView> {
    const j = (await callAuth0(`get import job ${jobId}`, () => this.jobs.get(jobId))) as unknown as Record<string, unknown>;
    if (j.type !== undefined && j.type !== "users_import") {
      throw new Auth0Error(`job ${jobId} is a ${typeof j.type === "string" ? j.type : "different"} job, not a users import`, { kind: "rejected", retryable: false });
    }
    const status = String(j.status);
    if (!STATUSES.has(status)) throw new Auth0Error(`import job ${jobId}: unknown status ${status}`, { kind: "server", retryable: true });
    const s = j.summary as Record<string, unknown> | undefined;
    const details = typeof j.status_details === "string" && j.status_details !== "" ? redact(j.status_details) : undefined;
    return {
      id: jobId,
      status: status as ImportJobView["status"],
      summary: s && { inserted: num(s.inserted), updated: num(s.updated), failed: num(s.failed), total: num(s.total) },
      details,
    };
  }

  /** The users a finished job refused, with their errors (none: Auth0 answers 204). */
  async errors(jobId: string): Promise<ImportError[]> {
    const res = await callAuth0(`get import job errors ${jobId}`, () => this.jobs.errors.get(jobId));
    // A failed job answers with itself instead of a list: its users then go the per-user way anyway.
    return Array.isArray(res) ? (res as unknown[] as ImportError[]) : [];
  }
}
