/**
 * New users through Auth0's bulk import jobs (docs/imports.md): which runs use them, what a user becomes in the
 * import file, how users are packed into files, and what a finished job's errors mean for each user. Auth0's facts
 * behind it (FACTS, "Jobs"): a file of at most 500 KB (400 KB advised), two active jobs per tenant, a `user_id` the
 * caller chooses kept with an `auth0|` prefix, no roles, organizations or plaintext passwords, and per-user errors
 * (CONFLICT_EMAIL, DUPLICATED_USER, FORMAT) that do not fail the job.
 */
import type { SyncConfig } from "./config.js";
import { EMAILS_IN_TEXT } from "./emails.js";
import { IMPORTABLE_FIELDS, PROFILE_FIELD_NAMES } from "./fields.js";
import type { SyncOperation } from "./operations.js";
import type { DesiredProfile, JsonObject, Rejection } from "./types.js";
import { createBody } from "./write-plan.js";

/** The file bytes the sync packs at most (Auth0: 500 KB hard limit, under 400 KB advised). */
export const IMPORT_FILE_MAX_BYTES = 400 * 1024;
/** Auth0 runs at most this many import jobs of a tenant at once (a third is refused with a 429). */
export const MAX_ACTIVE_IMPORT_JOBS = 2;
/**
 * The importer's Lambda timeout: it follows a job for up to this long per delivery (a job Auth0 still runs then is
 * followed by the next delivery, from the job id the ledger keeps).
 */
export const IMPORTER_TIMEOUT_SECONDS = 900;
/** Auth0's own figure for an Enterprise tenant: about 400,000 users an hour, two jobs at once. */
export const IMPORT_USERS_PER_SECOND = 111;
/** The prefix Auth0 gives a `user_id` chosen in the import file. */
export const IMPORTED_ID_PREFIX = "auth0|";

/** Whether (and from how many new users) a run creates through import jobs. */
export type BulkPolicy = { kind: "off"; why: string } | { kind: "bulk"; minUsers: number };

export function bulkPolicy(config: Pick<SyncConfig, "create" | "mode" | "auth0">): BulkPolicy {
  const { bulk, bulkMinUsers, verifyEmail } = config.create;
  if (bulk === "off") return { kind: "off", why: "create.bulk is off" };
  if (config.mode === "update") return { kind: "off", why: "mode 'update' creates no user" };
  if (config.auth0.connectionType !== "database") return { kind: "off", why: "Auth0 imports only into database connections" };
  if (verifyEmail) return { kind: "off", why: "an import sends no verification email (create.verifyEmail)" };
  return { kind: "bulk", minUsers: bulk === "always" ? 1 : bulkMinUsers };
}

/** A user of Auth0's import file (its schema: no additional properties). */
export type ImportUser = Record<string, string | boolean | JsonObject>;

/** Why a new user cannot go through an import (it is created the per-user way), or undefined when it can. */
export function notImportable(desired: DesiredProfile): string | undefined {
  const field = PROFILE_FIELD_NAMES.find((f) => !IMPORTABLE_FIELDS.has(f) && desired.fields[f] !== undefined && desired.fields[f] !== null);
  return field ? `Auth0's import schema has no ${field}` : undefined;
}

/**
 * The user as the import file carries it: what a per-user create sends (write-plan.ts), with the id the sync chose
 * and `email_verified` as the mapping says (an import sets it to false unless sent). No password: as a per-user
 * create's random one, nobody knows it; an invitation (create.inviteTicket) lets the user set one.
 */
export function importUserOf(desired: DesiredProfile, id: string): ImportUser {
  const body = createBody(desired) as unknown as ImportUser;
  return { user_id: id, email_verified: false, ...body };
}

/** The Auth0 user id an imported user gets. */
export const importedUserId = (id: string): string => `${IMPORTED_ID_PREFIX}${id}`;

/** One import file's users: each operation with the id the sync chose for it. */
export interface ImportEntry {
  id: string;
  op: SyncOperation;
}

/** The file's bytes for these users (a JSON array, as sent). */
export function importFileBytes(users: ImportUser[]): number {
  return Buffer.byteLength(JSON.stringify(users));
}

/**
 * Packs users into files of at most `maxBytes` of import JSON: `add` returns a file when the next user would not
 * fit in it (that user starts the next), `end` the last one.
 */
export class ImportPacker {
  private entries: ImportEntry[] = [];
  private bytes = 2;

  constructor(private readonly maxBytes = IMPORT_FILE_MAX_BYTES) {}

  get size(): number {
    return this.entries.length;
  }

  add(entry: ImportEntry): ImportEntry[] | undefined {
    const b = Buffer.byteLength(JSON.stringify(importUserOf(entry.op.desired, entry.id))) + 1;
    let full: ImportEntry[] | undefined;
    if (this.entries.length > 0 && this.bytes + b > this.maxBytes) full = this.end();
    this.entries.push(entry);
    this.bytes += b;
    return full;
  }

  end(): ImportEntry[] | undefined {
    const out = this.entries;
    this.entries = [];
    this.bytes = 2;
    return out.length > 0 ? out : undefined;
  }
}

/** One user's error in a finished job, as `GET /jobs/{id}/errors` lists it. */
export interface ImportError {
  user?: { user_id?: unknown; email?: unknown };
  errors?: { code?: string; message?: string; path?: string }[];
}

/** What became of one user of a finished job. */
export type ImportVerdict =
  | { kind: "imported"; userId: string }
  /** The email exists already (or the user does): made to match the per-user way (409 -> lookup -> patch). */
  | { kind: "per-user"; why: string }
  | { kind: "rejected"; rejection: Rejection };

/** Codes that mean the user exists already in some form: the per-user path resolves it. */
const EXISTS = new Set(["CONFLICT_EMAIL", "DUPLICATED_USER", "CONFLICT"]);
/** Codes of Auth0's import schema check (a value the row gives that Auth0's schema refuses): the row is rejected. */
const SCHEMA = new Set(["FORMAT", "INVALID_TYPE", "OBJECT_REQUIRED", "MIN_LENGTH", "MAX_LENGTH", "PATTERN", "INVALID_FORMAT"]);

/**
 * Each user's verdict from a completed job's errors, matched by the id the sync chose (else by email). A FORMAT
 * error rejects the row, naming the field Auth0's `path` names; an existing email or user goes the per-user way; any
 * other code too (the per-user create gives Auth0's own answer for that user).
 */
export function importVerdicts(entries: ImportEntry[], errors: ImportError[]): Map<string, ImportVerdict> {
  const byId = new Map<string, NonNullable<ImportError["errors"]>>();
  const byEmail = new Map<string, NonNullable<ImportError["errors"]>>();
  for (const e of errors) {
    const list = e.errors ?? [];
    if (typeof e.user?.user_id === "string") byId.set(stripPrefix(e.user.user_id), list);
    else if (typeof e.user?.email === "string") byEmail.set(e.user.email.toLowerCase(), list);
  }
  const out = new Map<string, ImportVerdict>();
  for (const { id, op } of entries) {
    const errs = byId.get(id) ?? byEmail.get(op.desired.email.toLowerCase());
    if (!errs) {
      out.set(id, { kind: "imported", userId: importedUserId(id) });
      continue;
    }
    const format = errs.find((x) => x.code !== undefined && SCHEMA.has(x.code));
    if (format) {
      const field = fieldOfPath(format.path);
      out.set(id, {
        kind: "rejected",
        rejection: { code: "auth0_rejected", row: op.row, keyLabel: op.keyLabel, field, reason: `Auth0's import refused it: ${redacted(format.message ?? "invalid format")}` },
      });
      continue;
    }
    const code = errs[0]?.code ?? "unknown";
    out.set(id, { kind: "per-user", why: EXISTS.has(code) ? `the user exists already (${code})` : `the import refused it (${code}: ${redacted(errs[0]?.message ?? "")})` });
  }
  return out;
}

/** Auth0 echoes values (emails among them) in its messages; a rejection's reason never carries one. */
const redacted = (message: string): string => message.replace(EMAILS_IN_TEXT, "<email>");

const stripPrefix = (id: string): string => (id.startsWith(IMPORTED_ID_PREFIX) ? id.slice(IMPORTED_ID_PREFIX.length) : id);

/**
 * The row's field a schema error's path names: `given_name`, `#/given_name`, `user_metadata.plan`, or (Auth0 puts
 * some there) `identities[0].profileData.email`.
 */
function fieldOfPath(path: string | undefined): string {
  const p = (path ?? "").replace(/^#?\/?/, "").replace(/\//g, ".").replace(/^identities\[\d+\]\.profileData\./, "");
  return p === "" ? "user" : p;
}

/** What a plan says of the import path: users, files and the time Auth0 takes at its figure. */
export interface ImportEstimate {
  users: number;
  jobs: number;
  seconds: number;
}

export function importEstimate(users: number, jobs: number, usersPerSecond = IMPORT_USERS_PER_SECOND): ImportEstimate {
  return { users, jobs, seconds: Math.ceil(users / usersPerSecond) };
}
