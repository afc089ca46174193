/**
 * The zod schemas of a user operation as it travels in a message body (adapters/sqs/message.ts) or an import batch
 * (import-message.ts): exactly the core's types (core/operations.ts), which message.ts checks at compile time.
 */
import { z } from "zod";
import { BOOLEAN_FIELDS, PROFILE_FIELD_NAMES } from "../../core/fields.js";
import type { Json, JsonObject, ObservedUser } from "../../core/types.js";

const json: z.ZodType<Json> = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(json), z.record(z.string(), json)]));
const jsonObject: z.ZodType<JsonObject> = z.record(z.string(), json);

export const desiredSchema = z.strictObject({
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

export const syncOperation = z.strictObject({
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
export const mirrorOperation = z.strictObject({
  kind: z.enum(["block", "delete"]),
  key: z.string().min(1),
  keyLabel: z.string(),
  userId: z.string().min(1),
});

/** A body's JSON, or undefined when it is not JSON (the parsers say so without showing it). */
export function jsonOf(body: string | undefined): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body ?? "") };
  } catch {
    return { ok: false };
  }
}

/** A schema's refusal as a reason: the first problem's path and message, never a value. */
export function issueReason(error: z.ZodError): string {
  const first = error.issues[0];
  const path = first?.path.map(String).join(".") || "(body)";
  return `${path}: ${first?.message ?? "invalid"}${error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : ""}`;
}
