/**
 * The sync ledger in DynamoDB: what lets an unchanged row cost no Auth0 call and an update be one PATCH with no
 * lookup. One table, six stores: the identity entries (users.ts), the runs and the run lock (runs.ts), a run's
 * segments (segments.ts), the import batches' jobs (imports.ts), the reconcile's items (reconciles.ts), and the watch's (watch.ts). The records' shapes are the core's (core/records.ts).
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ImportLedger } from "./imports.js";
import { ReconcileLedger } from "./reconciles.js";
import { RunLedger } from "./runs.js";
import { SegmentLedger } from "./segments.js";
import { LedgerTable } from "./table.js";
import { UserLedger } from "./users.js";
import { WatchLedger } from "./watch.js";

export type { LedgerEntry, ReconcileJob, ReconcileRecord, RunRecord } from "../../core/records.js";
export type { LockResult } from "./runs.js";

export class Ledger {
  readonly users: UserLedger;
  readonly runs: RunLedger;
  readonly reconciles: ReconcileLedger;
  readonly segments: SegmentLedger;
  readonly imports: ImportLedger;
  readonly watch: WatchLedger;
  private readonly table: LedgerTable;

  constructor(client: DynamoDBClient, readonly tableName: string) {
    this.table = new LedgerTable(client, tableName);
    this.users = new UserLedger(this.table);
    this.runs = new RunLedger(this.table);
    this.reconciles = new ReconcileLedger(this.table);
    this.segments = new SegmentLedger(this.table);
    this.imports = new ImportLedger(this.table);
    this.watch = new WatchLedger(this.table);
  }

  /** Items read and written and requests sent, over the three stores. */
  get stats(): LedgerTable["stats"] {
    return this.table.stats;
  }
}
