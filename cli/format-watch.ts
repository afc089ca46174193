/**
 * The watch as the CLI prints it: each user it acted on (`watch --local`, as it happens), what a local watch did
 * when stopped, and the watch's record in `status` (counts since deployment, the latest notes).
 */
import type { WatchNote, WatchRecord } from "../functions/core/records.js";
import type { WatchAction } from "../functions/core/watch.js";
import type { WatchReport } from "./targets/target.js";

/** Every action of the catalog (core/watch.ts WATCH_ACTIONS) in words: one missing does not compile. */
const WHAT: Record<WatchAction, string> = {
  repaired: "repaired",
  reported: "reported (not repaired)",
  fight: "left alone: repaired too often, someone is fighting the sync",
  "in-sync": "in sync (nothing the sync owns changed)",
  unmanaged: "not managed by the sync",
  "left-alone": "left alone (blocked by mirror mode)",
  ambiguous: "left alone: several ledger entries manage this user (the reconcile resolves it)",
  redelivered: "already judged (the stream delivered the event again)",
  failed: "could not be judged (Auth0 or the ledger failed): its events come back",
};

export function formatWatchNote(n: WatchNote): string {
  const who = n.keyLabel ?? n.userId;
  const fields = n.fields.length > 0 ? ` [${n.fields.join(", ")}]` : "";
  const lag = n.lagSeconds !== undefined ? `, queued ${n.lagSeconds.toFixed(1)} s after the edit` : "";
  return `${n.at}  ${who}: ${WHAT[n.action as WatchAction] ?? n.action}${fields}${lag} (by ${n.clients.join(", ") || "?"})`;
}

export function formatWatchReport(r: WatchReport): string {
  const outcomes = Object.entries(r.repairOutcomes).map(([o, n]) => `${o} ${n}`).join(", ") || "none";
  return [`watch stopped: ${r.logged} log events, ${r.delivered} matched the rule, ${r.batches} batches, ${r.repairsQueued} repairs queued (applied: ${outcomes}), ${r.auth0Calls} Auth0 calls`].join("\n");
}

/** The watch's lines of `status`. */
export function formatWatchStatus(w: WatchRecord | undefined): string[] {
  if (!w) return [];
  const c = (k: string) => w.counts[k] ?? 0;
  const out = [
    "",
    `Watch (last event ${w.lastEventAt ?? "never"}): ${c("events")} events, ${c("ignored")} ignored, ${c("outsideEdits")} outside edits: ${c("repaired")} repaired, ${c("reported")} reported, ${c("fight")} fights; ${c("in-sync")} in sync, ${c("unmanaged")} not managed`,
  ];
  for (const n of w.recent.slice(0, 10)) out.push(`  ${formatWatchNote(n)}`);
  return out;
}
