/**
 * The snapshot adapter: every user of one connection, read through Auth0's users-export job, and the members of
 * roles. It makes the calls and translates their errors; what the snapshot means is decided in core.
 *
 * Management API calls go through the official SDK's resource clients over the Auth0Adapter's own paced fetch and
 * token (so they spend the same rate budget and show in its stats). The export file is not a Management API
 * call: it is fetched from its presigned `location` without an Authorization header and without pacing, streamed
 * (gzip or plain NDJSON) and yielded one user at a time.
 *
 * An export outlives a Lambda invocation: the job id is handed to the caller as soon as the job exists
 * (`onJobStarted`), and a later invocation passes it back to poll the same job instead of starting another.
 */
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { setTimeout as sleep } from "node:timers/promises";
import { ConnectionsClient } from "auth0/connections";
import { JobsClient } from "auth0/jobs";
import { RolesClient } from "auth0/roles";
import { BOOLEAN_FIELDS, STANDARD_FIELDS, TEXT_FIELDS } from "../../core/fields.js";
import type { CurrentUser, JsonObject } from "../../core/types.js";
import type { Auth0Adapter } from "./client.js";
import { findConnectionId } from "./connections.js";
import { Auth0Error, callAuth0, redact } from "./errors.js";
import { MalformedLineError, ndjsonRecords } from "./ndjson.js";

/**
 * A user as the export shows it: the catalog's fields (text as strings, booleans as booleans) and metadata, and its
 * connection's name when the export covers every connection.
 */
/** A user of an export: the profile, its connection (an export of every connection), its identities when asked for. */
export type SnapshotUser = CurrentUser & { connection?: string; identities?: { provider: string; user_id: string }[] };

/**
 * The fields every export asks for: the identity, the state the sync manages, and every profile field of the
 * catalog (core/fields.ts), so a field added there is exported with no change here.
 */
export const EXPORT_FIELDS: readonly string[] = [...new Set(["user_id", "email", "blocked", "app_metadata", "user_metadata", ...STANDARD_FIELDS])];

/** An export of every connection also names each user's connection (Auth0's documented field for it). */
const CONNECTION_FIELD = { name: "identities[0].connection", export_as: "connection" } as const;

export interface SnapshotOptions {
  /**
   * The connection whose users are exported, by name (looked up with read:connections); absent, every connection's
   * users are exported, each with its connection's name, and no connection is looked up (read:users is enough).
   */
  connection?: string;
  /** Job polling: the first wait, doubled after every poll up to `maxMs`. Defaults 1 s and 30 s. */
  poll?: { initialMs?: number; maxMs?: number };
  /** Downloads of the export file: attempts in all (an expired link is renewed between them; default 4). */
  downloadAttempts?: number;
  /** How long the file's host may take to start answering (default 30 s); the body itself is bounded by `signal`. */
  downloadHeadersTimeoutMs?: number;
  /** The fetch the file is downloaded with (global fetch by default). It is neither paced nor authorized. */
  fetch?: typeof fetch;
  /** A line longer than this is not a user (default 1 MiB). */
  maxLineBytes?: number;
  /** Integers a double would change are read as BigInt (a tenant copy must copy them exactly or not at all). */
  exactIntegers?: boolean;
  /**
   * Fields exported besides EXPORT_FIELDS (a tenant copy reads `identities`: every linked account's id is hidden).
   * Asked for, `identities` is required of every user line (Auth0 gives every user at least one identity): a line
   * without them fails the read, as a copy would otherwise hide the user_id alone and let linked ids through.
   */
  extraFields?: string[];
}

export interface SnapshotStats {
  /**
   * Management API requests this reader made (connection, job, polls, role members). A retry inside the paced
   * fetch counts once here; the adapter's `stats.calls`, which also includes these, counts every attempt.
   */
  calls: number;
  /** GET /jobs/{id}: polls, and asks for a fresh location. */
  jobGets: number;
  /** Expired or failed download links renewed. */
  locationRefreshes: number;
  /** Attempts to download the file (not Management API calls). */
  downloads: number;
  /** Users yielded. */
  users: number;
}

/** Where an export job stands when the reader stops waiting for it. */
export type ExportWait =
  | { state: "running"; jobId: string; status: string; percentDone?: number }
  | { state: "completed"; jobId: string; location?: string };

export type ExportRead =
  | { state: "running"; jobId: string; status: string; percentDone?: number }
  | { state: "completed"; jobId: string; users: AsyncGenerator<SnapshotUser> };

export interface WaitOptions {
  /** Epoch ms after which no further poll starts: the job is then reported as still running. */
  deadline?: number;
  /** Aborting stops waiting the same way (the job is reported as still running, never lost). */
  signal?: AbortSignal;
}

export interface ReadExportOptions extends WaitOptions {
  /** A job recorded by an earlier invocation: it is polled, and no new job is started. */
  jobId?: string;
  /** Called with a new job's id before it is polled, so the caller can record it. */
  onJobStarted?: (jobId: string) => void | Promise<void>;
}

interface JobView {
  id: string;
  type: string;
  status: string;
  connectionId?: string;
  location?: string;
  percentDone?: number;
  details?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export class Auth0Snapshot {
  readonly stats: SnapshotStats = { calls: 0, jobGets: 0, locationRefreshes: 0, downloads: 0, users: 0 };
  private readonly jobs: JobsClient;
  private readonly connections: ConnectionsClient;
  private readonly roles: RolesClient;
  private connectionIdPromise?: Promise<string>;

  constructor(
    private readonly adapter: Auth0Adapter,
    private readonly opts: SnapshotOptions,
  ) {
    const base = adapter.clientOptions;
    const pacedFetch = base.fetch ?? fetch;
    const counted: typeof fetch = (input, init) => {
      this.stats.calls++;
      return pacedFetch(input, init);
    };
    const options = { ...base, fetch: counted };
    this.jobs = new JobsClient(options);
    this.connections = new ConnectionsClient(options);
    this.roles = new RolesClient(options);
  }

  /** The configured connection's id, looked up by name once per reader (undefined: every connection). */
  connectionId(signal?: AbortSignal): Promise<string | undefined> {
    if (this.opts.connection === undefined) return Promise.resolve(undefined);
    this.connectionIdPromise ??= findConnectionId(this.connections, this.opts.connection, signal).catch((err: unknown) => {
      this.connectionIdPromise = undefined;
      throw err;
    });
    return this.connectionIdPromise;
  }

  /** Starts an export of the connection's users (or every user) with EXPORT_FIELDS, as NDJSON. Returns the job id. */
  async startExport(signal?: AbortSignal): Promise<string> {
    const connection_id = await this.connectionId(signal);
    const fields: { name: string; export_as?: string }[] = [...new Set([...EXPORT_FIELDS, ...(this.opts.extraFields ?? [])])].map((name) => ({ name }));
    if (connection_id === undefined) fields.push({ ...CONNECTION_FIELD });
    const job = await callAuth0("start users export", () =>
      this.jobs.usersExports.create({ ...(connection_id === undefined ? {} : { connection_id }), format: "json", fields }, { abortSignal: signal }),
    );
    if (typeof job.id !== "string" || job.id === "") {
      throw new Auth0Error("start users export: Auth0 answered without a job id", { kind: "server", retryable: true });
    }
    return job.id;
  }

  /** The job, checked to be an export of this connection; a failed job is a permanent error with its reason. */
  private async job(jobId: string, signal?: AbortSignal): Promise<JobView> {
    this.stats.jobGets++;
    const j = await callAuth0(`get export job ${jobId}`, () => this.jobs.get(jobId, { abortSignal: signal }));
    const view: JobView = {
      id: String(j.id),
      type: String(j.type),
      status: String(j.status),
      connectionId: j.connection_id,
      location: typeof j.location === "string" && j.location !== "" ? j.location : undefined,
      percentDone: typeof j.percentage_done === "number" ? j.percentage_done : undefined,
      // The SDK's type carries the reason of a failure here; Auth0's documentation shows no failed export.
      details: typeof j.status_details === "string" && j.status_details !== "" ? j.status_details : undefined,
    };
    if (view.type !== "users_export") {
      throw new Auth0Error(`job ${jobId} is a ${view.type} job, not a users export`, { kind: "rejected", retryable: false });
    }
    const wanted = await this.connectionId(signal);
    if (wanted !== undefined && view.connectionId !== undefined && view.connectionId !== wanted) {
      throw new Auth0Error(`export job ${jobId} exports another connection than ${this.opts.connection}; start a new export`, {
        kind: "rejected",
        retryable: false,
      });
    }
    if (view.status === "failed") {
      const reason = view.details ? `: ${redact(view.details)}` : " (Auth0 gave no reason)";
      throw new Auth0Error(`users export job ${jobId} failed${reason}`, { kind: "rejected", retryable: false, auth0Message: view.details && redact(view.details) });
    }
    return view;
  }

  /** Waits `ms`, cut short by the deadline; false when the deadline has passed or the caller aborted. */
  private async pause(ms: number, o: WaitOptions): Promise<boolean> {
    if (o.signal?.aborted) return false;
    const wait = o.deadline === undefined ? ms : Math.min(ms, o.deadline - Date.now());
    if (wait <= 0) return false;
    try {
      await sleep(wait, undefined, { signal: o.signal });
    } catch (err) {
      if (o.signal?.aborted) return false;
      throw err;
    }
    return true;
  }

  /**
   * Polls the job with backoff (each poll paced like any Management API call) until it completes, fails (an
   * Auth0Error with the job's reason, not retryable), or the deadline or the caller's signal stops the wait: the
   * job is then reported as still running, for the next invocation to go on with.
   */
  async waitForExport(jobId: string, o: WaitOptions & { firstPollAfterMs?: number } = {}): Promise<ExportWait> {
    const initialMs = this.opts.poll?.initialMs ?? 1_000;
    const maxMs = this.opts.poll?.maxMs ?? 30_000;
    let status = "pending";
    let percentDone: number | undefined;
    const running = (): ExportWait => ({ state: "running", jobId, status, ...(percentDone === undefined ? {} : { percentDone }) });
    let delay = initialMs;
    if (o.firstPollAfterMs !== undefined && !(await this.pause(o.firstPollAfterMs, o))) return running();
    for (;;) {
      let job: JobView;
      try {
        job = await this.job(jobId, o.signal);
      } catch (err) {
        if (o.signal?.aborted) return running();
        throw err;
      }
      ({ status, percentDone } = job);
      if (job.status === "completed") return { state: "completed", jobId, location: job.location };
      if (!(await this.pause(delay, o))) return running();
      delay = Math.min(delay * 2, maxMs);
    }
  }

  /**
   * The export, resumed or started: with `jobId` that job is polled; without, a new job is started and its id
   * given to `onJobStarted` before the first poll. Completed, the users come as an async generator that
   * downloads and streams the file while it is iterated.
   */
  async readExport(o: ReadExportOptions = {}): Promise<ExportRead> {
    let jobId = o.jobId;
    let firstPollAfterMs: number | undefined;
    if (jobId === undefined) {
      jobId = await this.startExport(o.signal);
      await o.onJobStarted?.(jobId);
      // A job just created is pending: the first poll waits a round of backoff.
      firstPollAfterMs = this.opts.poll?.initialMs ?? 1_000;
    }
    const wait = await this.waitForExport(jobId, { deadline: o.deadline, signal: o.signal, firstPollAfterMs });
    if (wait.state === "running") return wait;
    return { state: "completed", jobId, users: this.users(jobId, { signal: o.signal, location: wait.location }) };
  }

  /** A completed job's download link (valid for a short while). */
  private async location(jobId: string, signal?: AbortSignal): Promise<string> {
    const job = await this.job(jobId, signal);
    if (job.status !== "completed") {
      throw new Auth0Error(`export job ${jobId} is ${job.status}, not completed: wait for it before reading it`, { kind: "rejected", retryable: true });
    }
    if (!job.location) throw new Auth0Error(`export job ${jobId} is completed but has no location`, { kind: "server", retryable: true });
    return job.location;
  }

  /** One GET of the file: no Authorization header (the link is presigned), not paced. */
  private async fetchFile(location: string, signal?: AbortSignal): Promise<Response> {
    this.stats.downloads++;
    const headers = new AbortController();
    const timer = setTimeout(() => headers.abort(new Error("no answer in time")), this.opts.downloadHeadersTimeoutMs ?? 30_000);
    try {
      return await (this.opts.fetch ?? fetch)(location, { signal: signal ? AbortSignal.any([signal, headers.signal]) : headers.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The file's response, renewing the link on a 403 (it expires 60 s after it was handed out), a 5xx or a
   * network error, a bounded number of times. Messages never show the link: it carries a signature.
   */
  private async download(jobId: string, known: string | undefined, signal?: AbortSignal): Promise<Response> {
    const attempts = Math.max(1, this.opts.downloadAttempts ?? 4);
    let location = known;
    let last = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) this.stats.locationRefreshes++;
      location ??= await this.location(jobId, signal);
      let res: Response;
      try {
        res = await this.fetchFile(location, signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        last = `network error: ${redact((err as Error)?.message ?? String(err))}`;
        location = undefined;
        continue;
      }
      if (res.ok && res.body) return res;
      await res.body?.cancel().catch(() => undefined);
      last = `HTTP ${res.status}`;
      if (res.status === 404 || res.status === 410) {
        throw new Auth0Error(`download of export ${jobId}: the file is gone (${last}); export data is kept 24 h: start a new export`, {
          kind: "not_found",
          retryable: false,
          statusCode: res.status,
        });
      }
      if (res.status !== 403 && res.status !== 408 && res.status !== 429 && res.status < 500) {
        throw new Auth0Error(`download of export ${jobId}: answered ${last}`, { kind: "rejected", retryable: false, statusCode: res.status });
      }
      location = undefined;
      if (res.status !== 403 && attempt < attempts) await sleep(Math.min(5_000, 250 * 2 ** attempt), undefined, { signal });
    }
    throw new Auth0Error(`download of export ${jobId} failed ${attempts} times, last: ${last}`, { kind: "server", retryable: true });
  }

  /**
   * The users of a completed export, streamed: the file is downloaded while the generator is iterated and memory
   * does not grow with the tenant. A malformed line is an error naming its line number, never its content.
   */
  async *users(jobId: string, o: { signal?: AbortSignal; location?: string } = {}): AsyncGenerator<SnapshotUser> {
    const res = await this.download(jobId, o.location, o.signal);
    const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    try {
      for await (const { line, value } of ndjsonRecords(body, { maxLineBytes: this.opts.maxLineBytes, exactIntegers: this.opts.exactIntegers })) {
        const user = toSnapshotUser(value, line, jobId, this.opts.extraFields?.includes("identities") ?? false);
        this.stats.users++;
        yield user;
      }
    } catch (err) {
      if (err instanceof Auth0Error || o.signal?.aborted) throw err;
      if (err instanceof MalformedLineError) {
        throw new Auth0Error(`export ${jobId}, ${err.message}`, { kind: "server", retryable: false });
      }
      // A broken connection or a truncated or corrupt gzip stream: downloading again may well work.
      throw new Auth0Error(`export ${jobId}: reading the file failed: ${redact((err as Error)?.message ?? String(err))}`, {
        kind: "network",
        retryable: true,
        cause: err,
      });
    } finally {
      body.destroy();
    }
  }

  /** The ids of a role's users, by role name (an unknown name is the adapter's `unknown_role` error). */
  async *roleMembers(roleName: string, signal?: AbortSignal): AsyncGenerator<string> {
    const [roleId] = await this.adapter.roleIds([roleName]);
    yield* this.roleMembersById(roleId as string, signal);
  }

  /** The ids of a role's users, paged with checkpoint pagination (take=100, then from=<next> until no next). */
  async *roleMembersById(roleId: string, signal?: AbortSignal): AsyncGenerator<string> {
    const operation = `list members of role ${roleId}`;
    const page = await callAuth0(operation, () => this.roles.users.list(roleId, { take: 100 }, { abortSignal: signal }));
    for (;;) {
      for (const u of page.data) if (typeof u.user_id === "string" && u.user_id !== "") yield u.user_id;
      if (!page.hasNextPage()) return;
      await callAuth0(operation, () => page.getNextPage());
    }
  }
}

function toSnapshotUser(value: unknown, line: number, jobId: string, identitiesAsked: boolean): SnapshotUser {
  if (!isObject(value) || typeof value.user_id !== "string" || value.user_id === "") {
    throw new Auth0Error(`export ${jobId}, line ${line}: not a user (no user_id)`, { kind: "server", retryable: false });
  }
  // Fails closed, as the copy's connection filter does: the message names the line, never what it holds.
  if (identitiesAsked && !Array.isArray(value.identities)) {
    throw new Auth0Error(`export ${jobId}, line ${line}: the user has no identities, which the export asked for, so a linked account's id could not be hidden (nothing is copied unguarded)`, {
      kind: "server",
      retryable: false,
    });
  }
  const user: SnapshotUser = { user_id: value.user_id };
  if (typeof value.email === "string") user.email = value.email;
  for (const k of TEXT_FIELDS) {
    const v = value[k];
    if (typeof v === "string") user[k] = v;
  }
  for (const k of BOOLEAN_FIELDS) {
    const v = value[k];
    if (typeof v === "boolean") (user as Record<string, unknown>)[k] = v;
  }
  // As the adapter reads a single user: metadata Auth0 leaves out is empty.
  user.user_metadata = isObject(value.user_metadata) ? (value.user_metadata as JsonObject) : {};
  user.app_metadata = isObject(value.app_metadata) ? (value.app_metadata as JsonObject) : {};
  if (typeof value.connection === "string") user.connection = value.connection;
  if (Array.isArray(value.identities)) {
    // Auth0 gives an identity's user_id without its provider's prefix, as text or (some social providers) a number.
    user.identities = value.identities.flatMap((i: unknown) =>
      isObject(i) && typeof i.provider === "string" && (typeof i.user_id === "string" || typeof i.user_id === "number" || typeof i.user_id === "bigint") ? [{ provider: i.provider, user_id: String(i.user_id) }] : [],
    );
  }
  return user;
}
