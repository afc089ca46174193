/**
 * The SQS message body: many user operations per message, versioned, validated with zod when received.
 */
import { z } from "zod";
import { BOOLEAN_FIELDS, PROFILE_FIELD_NAMES } from "../../core/fields.js";
import type { MirrorOperation, SyncOperation, UserOperation } from "../../core/operations.js";
import type { DesiredProfile, Json, JsonObject, ObservedUser } from "../../core/types.js";

export const MESSAGE_VERSION = 1;

const json: z.ZodType<Json> = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(json), z.record(z.string(), json)]));
const jsonObject: z.ZodType<JsonObject> = z.record(z.string(), json);

const desiredSchema = z.strictObject({
  key: z.string().min(1),
  email: z.string().min(3),
  /** Only the catalog's fields (core/fields.ts): a message naming another field is malformed. */
  fields: z.partialRecord(z.enum(PROFILE_FIELD_NAMES), z.union([z.string(), z.boolean(), z.null()])),
  user_metadata: jsonObject,
  app_metadata: jsonObject,
  createOnly: z.array(z.string()),
  roles: z.array(z.string()).optional(),
  organizations: z.record(z.string(), z.array(z.string())).optional(),
});

/** A user as a reconcile's export showed it: the catalog's fields, metadata and role names. */
const observedUser = z.strictObject({
  user_id: z.string().min(1),
  email: z.string().nullable().optional(),
  // Built from the catalog, so the compiler cannot see the fields: the cast below names the type they make.
  ...Object.fromEntries(PROFILE_FIELD_NAMES.map((f) => [f, BOOLEAN_FIELDS.has(f) ? z.boolean().optional() : z.string().nullable().optional()])),
  user_metadata: jsonObject.optional(),
  app_metadata: jsonObject.optional(),
  roles: z.array(z.string()).optional(),
  organizations: z.record(z.string(), z.array(z.string())).optional(),
});

const syncOperation = z.strictObject({
  kind: z.literal("sync"),
  /** Row number in the run, for reasons that name the row. */
  row: z.number().int().positive(),
  /** Safe label of the key (the key, or a hash when the identity is the email). */
  keyLabel: z.string(),
  fingerprint: z.string().min(1),
  desired: desiredSchema,
  /** A reconcile's repair: the user as the export showed it, or null when Auth0 no longer holds it. */
  observed: (observedUser as unknown as z.ZodType<ObservedUser>).nullable().optional(),
});

/** Mirror mode: a managed user absent from the run. */
const mirrorOperation = z.strictObject({
  kind: z.enum(["block", "delete"]),
  key: z.string().min(1),
  keyLabel: z.string(),
  userId: z.string().min(1),
});

export const messageSchema = z.strictObject({
  v: z.literal(MESSAGE_VERSION),
  runId: z.string().min(1),
  ops: z.array(z.discriminatedUnion("kind", [syncOperation, mirrorOperation])).min(1),
});

// The operations are the core's types (core/operations.ts); the schema accepts exactly them, so the sender and the
// receiver cannot drift apart: checked by the compiler.
export type { MirrorOperation, SyncOperation, UserOperation };
export { opKey } from "../../core/operations.js";
export interface QueueMessage {
  v: typeof MESSAGE_VERSION;
  runId: string;
  ops: UserOperation[];
}
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _desiredIsProfile: Same<z.infer<typeof desiredSchema>, DesiredProfile> = true;
const _syncIsOperation: Same<z.infer<typeof syncOperation>, SyncOperation> = true;
const _mirrorIsOperation: Same<z.infer<typeof mirrorOperation>, MirrorOperation> = true;
const _messageIsQueueMessage: Same<z.infer<typeof messageSchema>, QueueMessage> = true;
void [_desiredIsProfile, _syncIsOperation, _mirrorIsOperation, _messageIsQueueMessage];

export type ParseResult = { ok: true; message: QueueMessage } | { ok: false; reason: string };

/** Validates a received body; never throws. The reason names what is wrong, never a value. */
export function parseMessage(body: string | undefined): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(body ?? "");
  } catch {
    return { ok: false, reason: "body is not JSON" };
  }
  const r = messageSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    const path = first?.path.map(String).join(".") || "(body)";
    return { ok: false, reason: `${path}: ${first?.message ?? "invalid"}${r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problems)` : ""}` };
  }
  return { ok: true, message: r.data };
}
