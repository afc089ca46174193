/**
 * What a dead-lettered message holds and why it failed: the users it carries and, from the ledger, the last
 * error recorded for each (a malformed message carries its own reason). No email is shown.
 */
import type { Ledger, LedgerEntry } from "../functions/adapters/ledger/ledger.js";
import { opKey, parseMessage } from "../functions/adapters/sqs/message.js";
import type { DlqSample } from "./targets/target.js";

export interface RawMessage {
  messageId: string;
  body: string;
  sentAt?: number;
}

export async function describeDlqMessages(messages: RawMessage[], ledger: Ledger | undefined): Promise<DlqSample[]> {
  const out: DlqSample[] = [];
  for (const m of messages) {
    const parsed = parseMessage(m.body);
    if (!parsed.ok) {
      out.push({ messageId: m.messageId, users: 0, sentAt: m.sentAt, reasons: [`malformed message: ${parsed.reason}`] });
      continue;
    }
    const { runId, ops } = parsed.message;
    let entries = new Map<string, LedgerEntry>();
    try {
      if (ledger) entries = await ledger.users.getMany(ops.map(opKey));
    } catch (err) {
      // Whatever the ledger holds, status goes on: this message's reasons are what cannot be read.
      out.push({ messageId: m.messageId, runId, users: ops.length, sentAt: m.sentAt, reasons: [`the ledger could not be read for its users: ${err instanceof Error ? err.message : String(err)}`] });
      continue;
    }
    const reasons = new Map<string, number>();
    for (const op of ops) {
      const e = entries.get(opKey(op));
      const where = op.kind === "sync" ? `row ${op.row}` : `${op.kind} ${op.keyLabel}`;
      const why = e?.lastError ?? (e?.lastOutcome === "rejected" ? `rejected: ${e.lastReason ?? "no reason recorded"}` : undefined);
      if (why) reasons.set(`${where}: ${why}`, 1);
    }
    out.push({
      messageId: m.messageId,
      runId,
      users: ops.length,
      sentAt: m.sentAt,
      reasons: reasons.size > 0 ? [...reasons.keys()] : ["no failure recorded in the ledger (the consumer may have timed out or crashed)"],
    });
  }
  return out;
}
