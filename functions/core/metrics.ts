/**
 * Every metric the Lambdas emit (Powertools EMF) and the alarms and dashboard read: one table, so a handler that
 * emits a name the table lacks, or a widget that reads one, fails to compile. Units are CloudWatch's unit names
 * (Powertools' MetricUnit values). Dead-lettered users have no metric: a message in the DLQ was never settled by a
 * consumer, and the DLQ's own depth (an AWS/SQS metric) shows them.
 */
export const METRICS_NAMESPACE = "Auth0Sync";

type Emitter = "extractor" | "consumer" | "reconcile" | "segment" | "importer" | "watch";

export const METRICS = {
  RowsRead: { fn: "extractor", unit: "Count", what: "rows the statement returned" },
  RowsRejected: { fn: "extractor", unit: "Count", what: "rows rejected by validation or as duplicates" },
  RowsEnqueued: { fn: "extractor", unit: "Count", what: "changed and new rows sent to the queue" },
  SqsRequests: { fn: "extractor", unit: "Count", what: "SendMessageBatch requests" },
  RunsSucceeded: { fn: "extractor", unit: "Count", what: "extracts that ended well (the no-successful-run alarm)" },
  RunsSkipped: { fn: "extractor", unit: "Count", what: "runs skipped: another extract holds the lock, or the queue still drains" },
  RunsHeld: { fn: "extractor", unit: "Count", what: "mirror runs held (the MirrorRunHeld alarm)" },
  RunsFailed: { fn: "extractor", unit: "Count", what: "extracts that failed (the statement, the source, the queue)" },
  RunsInterrupted: { fn: "extractor", unit: "Count", what: "extracts stopped on purpose before the end (a local run's Ctrl-C)" },
  SegmentsDone: { fn: "segment", unit: "Count", what: "segments of an unloaded table a worker finished (each once, retries not counted)" },
  UsersCreated: { fn: "consumer", unit: "Count", what: "users created" },
  UsersUpdated: { fn: "consumer", unit: "Count", what: "users updated" },
  UsersUnchanged: { fn: "consumer", unit: "Count", what: "users found already equal" },
  UsersBlocked: { fn: "consumer", unit: "Count", what: "users blocked by mirror mode" },
  UsersDeleted: { fn: "consumer", unit: "Count", what: "users deleted by mirror mode" },
  UsersRejected: { fn: "consumer", unit: "Count", what: "users Auth0 (or the identity check) refused" },
  Auth0Calls: { fn: "consumer", unit: "Count", what: "Management API requests" },
  Auth0Status429: { fn: "consumer", unit: "Count", what: "Management API requests answered 429" },
  LedgerWriteFailures: { fn: "consumer", unit: "Count", what: "ledger writes that failed (after an Auth0 write: the user is retried)" },
  ImportJobs: { fn: "importer", unit: "Count", what: "Auth0 bulk import jobs submitted (each a file of new users)" },
  ImportedUsers: { fn: "importer", unit: "Count", what: "new users an import job created (their roles and memberships follow)" },
  ImportAuth0Calls: { fn: "importer", unit: "Count", what: "Management API requests of the importer (jobs, polls, grouped roles and memberships)" },
  ImportFallbacks: { fn: "importer", unit: "Count", what: "users of an import batch handed to the per-user path (an existing email, a failed job)" },
  ReconcileUsersScanned: { fn: "reconcile", unit: "Count", what: "users of the connection in a reconcile's export" },
  ReconcileManaged: { fn: "reconcile", unit: "Count", what: "users the ledger says the sync manages, at a reconcile" },
  ReconcileDrifted: { fn: "reconcile", unit: "Count", what: "managed users that differ from what the sync applied, or are gone" },
  ReconcileRepaired: { fn: "reconcile", unit: "Count", what: "repairs a reconcile queued (the consumers apply them; applied ones count under the reconcile's id)" },
  ReconcileAdopted: { fn: "reconcile", unit: "Count", what: "users of the tenant a row claims that the ledger learned from an export" },
  ReconcileAuth0Calls: { fn: "reconcile", unit: "Count", what: "Management API requests of a reconcile (export job, polls, role members)" },
  WatchEvents: { fn: "watch", unit: "Count", what: "tenant log events the watch received (another client's writes; duplicates included)" },
  WatchIgnored: { fn: "watch", unit: "Count", what: "events not the watch's: not a write to users, the sync's own or an ignored client, unreadable" },
  WatchOutsideEdits: { fn: "watch", unit: "Count", what: "managed users another client changed on an owned field (the fight alarm)" },
  WatchRepaired: { fn: "watch", unit: "Count", what: "repairs the watch queued (the consumers apply them)" },
  WatchReported: { fn: "watch", unit: "Count", what: "outside edits reported, not repaired (watch.repair false, or the mode does not repair them)" },
  WatchFights: { fn: "watch", unit: "Count", what: "outside edits left alone because the user was repaired too often within the window (two writers fighting)" },
  WatchRepairedFields: { fn: "watch", unit: "Count", what: "fields the watch's repairs set back (one per field and user; also by the Field dimension)" },
  WatchFailedUsers: { fn: "watch", unit: "Count", what: "edited users the watch could not judge (Auth0 or the ledger failed): their events come back, then reach the watch DLQ" },
  WatchAuth0Calls: { fn: "watch", unit: "Count", what: "Management API requests of the watch (its reads of edited users)" },
} as const satisfies Record<string, { fn: Emitter; unit: "Count"; what: string }>;

export type MetricName = keyof typeof METRICS;
