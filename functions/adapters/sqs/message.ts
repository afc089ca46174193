/**
 * The SQS message body: many user operations per message, versioned, validated with zod when received.
 */
import { z } from "zod";
import type { MirrorOperation, SyncOperation, UserOperation } from "../../core/operations.js";
import type { DesiredProfile } from "../../core/types.js";
import { isImportBody, parseImportBatch } from "./import-message.js";
import { desiredSchema, issueReason, jsonOf, mirrorOperation, syncOperation } from "./operation-schema.js";

export const MESSAGE_VERSION = 1;

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
  // An import batch (import-message.ts) shares the DLQ: redriven to the main queue, its users go the per-user way.
  if (isImportBody(body)) {
    const batch = parseImportBatch(body);
    return batch.ok ? { ok: true, message: { v: MESSAGE_VERSION, runId: batch.message.runId, ops: batch.message.users.map((u) => u.op) } } : batch;
  }
  const raw = jsonOf(body);
  if (!raw.ok) return { ok: false, reason: "body is not JSON" };
  const r = messageSchema.safeParse(raw.value);
  if (!r.success) return { ok: false, reason: issueReason(r.error) };
  return { ok: true, message: r.data };
}
