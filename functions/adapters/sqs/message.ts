/**
 * The SQS message body: many user operations per message, versioned, validated with zod when received.
 */
import { z } from "zod";
import type { DesiredProfile } from "../../core/types.js";

export const MESSAGE_VERSION = 1;

const json: z.ZodType<unknown> = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(json), z.record(z.string(), json)]));
const jsonObject = z.record(z.string(), json);

const desiredSchema = z.strictObject({
  key: z.string().min(1),
  email: z.string().min(3),
  fields: z.record(z.string(), z.union([z.string(), z.boolean(), z.null()])),
  user_metadata: jsonObject,
  app_metadata: jsonObject,
  createOnly: z.array(z.string()),
  roles: z.array(z.string()).optional(),
});

const syncOperation = z.strictObject({
  kind: z.literal("sync"),
  /** Row number in the run, for reasons that name the row. */
  row: z.number().int().positive(),
  /** Safe label of the key (the key, or a hash when the identity is the email). */
  keyLabel: z.string(),
  fingerprint: z.string().min(1),
  desired: desiredSchema,
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

export type SyncOperation = { kind: "sync"; row: number; keyLabel: string; fingerprint: string; desired: DesiredProfile };
export type MirrorOperation = { kind: "block" | "delete"; key: string; keyLabel: string; userId: string };
export type UserOperation = SyncOperation | MirrorOperation;

/** The identity key an operation is about. */
export const opKey = (op: UserOperation): string => (op.kind === "sync" ? op.desired.key : op.key);
export interface QueueMessage {
  v: typeof MESSAGE_VERSION;
  runId: string;
  ops: UserOperation[];
}

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
  return { ok: true, message: r.data as QueueMessage };
}
