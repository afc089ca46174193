/**
 * The import queue's message: one import batch (core/import-batches.ts), its users each with the id the sync chose.
 * The writes queue's (core/created-writes.ts) has the same shape, kind `created`: users a consumer created, each
 * with its Auth0 id, whose roles and memberships are left.
 * An import file may be 400 KB and an SQS message at most 256 KB, so the users travel gzip-compressed (user
 * profiles compress several times over); a batch whose compressed form would still not fit is split in two, each
 * half a batch of its own. The run id stays readable, for the operator reading the DLQ.
 */
import { gzipSync, gunzipSync } from "node:zlib";
import { z } from "zod";
import type { ImportEntry } from "../../core/import-batches.js";
import { issueReason, jsonOf, syncOperation } from "./operation-schema.js";

export const IMPORT_MESSAGE_VERSION = 1;
/** One batch is one message, sent alone: under SQS's 256 KiB for a message and for a SendMessageBatch call. */
const MAX_IMPORT_MESSAGE_BYTES = 250 * 1024;

/** An import batch, or users a consumer created (the writes queue). */
export type BatchKind = "import" | "created";

export interface ImportBatchMessage {
  kind?: BatchKind;
  runId: string;
  /** Unique per batch: the ledger's record of its job is kept under it (adapters/ledger/imports.ts). */
  batchId: string;
  users: ImportEntry[];
}

const envelope = z.strictObject({
  v: z.literal(IMPORT_MESSAGE_VERSION),
  kind: z.enum(["import", "created"]),
  runId: z.string().min(1),
  batchId: z.string().min(1),
  /** The users, gzip-compressed JSON in base64. */
  users: z.string().min(1),
});

const usersSchema = z.array(z.strictObject({ id: z.string().min(1), op: syncOperation })).min(1);

/** The body of one batch, or of each half when it does not fit one message (split until it does). */
export function encodeImportBatch(msg: ImportBatchMessage, maxBytes = MAX_IMPORT_MESSAGE_BYTES): string[] {
  const body = JSON.stringify({ v: IMPORT_MESSAGE_VERSION, kind: msg.kind ?? "import", runId: msg.runId, batchId: msg.batchId, users: gzipSync(JSON.stringify(msg.users)).toString("base64") });
  if (Buffer.byteLength(body) <= maxBytes) return [body];
  if (msg.users.length < 2) throw new RangeError(`one import user (row ${msg.users[0]?.op.row}) does not fit an SQS message`);
  const half = Math.ceil(msg.users.length / 2);
  return [
    ...encodeImportBatch({ ...msg, batchId: `${msg.batchId}a`, users: msg.users.slice(0, half) }, maxBytes),
    ...encodeImportBatch({ ...msg, batchId: `${msg.batchId}b`, users: msg.users.slice(half) }, maxBytes),
  ];
}

export type ImportParseResult = { ok: true; message: ImportBatchMessage } | { ok: false; reason: string };

/** Whether a body is an import batch or created users at all (the DLQ holds every kind of message). */
export function isImportBody(body: string | undefined): boolean {
  return typeof body === "string" && (body.includes('"kind":"import"') || body.includes('"kind":"created"'));
}

/** Validates a received body; never throws. The reason names what is wrong, never a value. */
export function parseImportBatch(body: string | undefined): ImportParseResult {
  const raw = jsonOf(body);
  if (!raw.ok) return { ok: false, reason: "body is not JSON" };
  const env = envelope.safeParse(raw.value);
  if (!env.success) return { ok: false, reason: issueReason(env.error) };
  let users: unknown;
  try {
    users = JSON.parse(gunzipSync(Buffer.from(env.data.users, "base64")).toString("utf8"));
  } catch {
    return { ok: false, reason: "users: not gzip-compressed JSON" };
  }
  const parsed = usersSchema.safeParse(users);
  if (!parsed.success) return { ok: false, reason: `users.${issueReason(parsed.error)}` };
  return { ok: true, message: { kind: env.data.kind, runId: env.data.runId, batchId: env.data.batchId, users: parsed.data } };
}
