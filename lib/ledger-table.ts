/**
 * The sync ledger's DynamoDB table, and the access each Lambda has to it: the actions next to the methods of the
 * ledger adapter (functions/adapters/ledger/ledger.ts) that need them.
 */
import { RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import type { SyncConfig } from "../functions/core/config.js";
import { LEDGER_PARTITION_KEY, RUNS_INDEX, USERS_INDEX } from "../functions/core/ledger-keys.js";

/**
 * The DynamoDB actions each Lambda's ledger calls need, on the table only: not on its runs index, which only the
 * operator's `status` queries (Ledger.runs); the watch's Query on the users index is granted apart (grantWatch).
 * test/lib/iam-coverage.test.ts checks them against the calls the handlers make.
 */
export const LEDGER_ACTIONS = {
  segment: [
    // segments.get: a finished segment is not sent again; segments.put: its record (a conditional put).
    "GetItem",
    "PutItem",
    // runs.addSegmentDone: the run's progress (segments done), for `status`.
    "UpdateItem",
    // getMany: the unchanged check by lookup, and the one entry ownsEmail reads.
    "BatchGetItem",
    // scanApplied, when the core's policy picks the Scan for a segment; approximateItemCount sizes that choice.
    "Scan",
    "DescribeTable",
  ],
  extractor: [
    // getMany: the unchanged check by lookup, and the one entry ownsEmail reads.
    "BatchGetItem",
    // acquireRunLock: names the run holding the lock; getRun: the run an expired lock was held by.
    "GetItem",
    // scanApplied: the unchanged check by Scan; entries: mirror mode's managed users.
    "Scan",
    // approximateItemCount: sizes the choice between lookup and Scan, and the Scan's segments.
    "DescribeTable",
    // acquireRunLock / releaseRunLock (conditional updates of the lock item), putRun, markInterrupted.
    "UpdateItem",
  ],
  importer: [
    // imports.get: the batch's job, if a delivery before submitted one.
    "GetItem",
    // imports.begin: the batch claimed before its job is created (a conditional put); put: an imported user's entry.
    "PutItem",
    // imports.submitted / done, recordOutcome, recordFailure, runs.addCounts and addImports.
    "UpdateItem",
    // imports.release: Auth0 refused to create the job, so the batch may be submitted again.
    "DeleteItem",
    // getMany: the entries of the batch's users.
    "BatchGetItem",
  ],
  consumer: [
    // getMany: the entries of a batch's users.
    "BatchGetItem",
    // put: an entry after its Auth0 write.
    "PutItem",
    // recordOutcome, recordFailure (a rejection, a retry's reason), addRunCounts (its run's counts).
    "UpdateItem",
    // delete: the entry of a user mirror mode deleted.
    "DeleteItem",
  ],
  reconcile: [
    // reconcileJob: the export job an earlier invocation started; lastReconcile is the CLI's, not the Lambda's.
    "GetItem",
    // putReconcileJob (the job id, before it is polled), finishReconcile (the reconcile's record).
    "PutItem",
    // finishReconcile: the job item, once the reconcile is recorded; delete: the entry of a user gone from the tenant.
    "DeleteItem",
    // getMany: the entries of a batch of exported users, and of managed users the export lacks.
    "BatchGetItem",
    // putMany: the entries seeded from the export (users the ledger does not know).
    "BatchWriteItem",
    // entries: the managed users, to find the ones the export lacks.
    "Scan",
  ],
  watch: [
    // watch.userState (a user's recent repairs and judged log ids), watch.get (its record, merged with a batch's notes).
    "GetItem",
    // watch.setUserState: that memory.
    "PutItem",
    // watch.record: its counts and notes.
    "UpdateItem",
    // users.getMany: the entries of the keys the users index named.
    "BatchGetItem",
  ],
} as const satisfies Record<"extractor" | "consumer" | "reconcile" | "segment" | "importer" | "watch", readonly string[]>;

export interface LedgerTableProps {
  config: SyncConfig;
}

export class LedgerTable extends Construct {
  readonly table: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: LedgerTableProps) {
    super(scope, id);
    const { config } = props;
    // "Default": CDK leaves it out of logical ids, so the table keeps the one it had before this construct.
    this.table = new dynamodb.TableV2(this, "Default", {
      partitionKey: { name: LEDGER_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      // Sparse: only run items carry the index key, so `status` reads the last runs without a scan.
      globalSecondaryIndexes: [
        {
          indexName: RUNS_INDEX.name,
          partitionKey: { name: RUNS_INDEX.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: RUNS_INDEX.sortKey, type: dynamodb.AttributeType.STRING },
        },
        // With the watch only: which identity key a log event's Auth0 user id is, without a scan (sparse: items
        // with a userId; keys only). Without the watch nobody reads it, and every entry written with a userId would
        // still pay for its index write and storage.
        ...(config.watch?.enabled
          ? [{ indexName: USERS_INDEX.name, partitionKey: { name: USERS_INDEX.partitionKey, type: dynamodb.AttributeType.STRING }, projectionType: dynamodb.ProjectionType.KEYS_ONLY }]
          : []),
      ],
      billing: dynamodb.Billing.onDemand(),
      // The watch's per-user memory (W#) carries expiresAt: dropped a day after its last use. No other item has it.
      ...(config.watch?.enabled ? { timeToLiveAttribute: "expiresAt" } : {}),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: config.ledger.deletionProtection,
      removalPolicy: config.ledger.deletionProtection ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
  }

  get tableName(): string {
    return this.table.tableName;
  }

  get tableArn(): string {
    return this.table.tableArn;
  }

  /** What the extractor's ledger calls: entries read, the run lock, its run items. */
  grantExtractor(grantee: iam.IGrantable): iam.Grant {
    return this.grantActions(grantee, LEDGER_ACTIONS.extractor);
  }

  /** What the consumer's ledger calls: entries read and written, outcomes, its run's counts. */
  grantSegment(grantee: iam.IGrantable): iam.Grant {
    return this.grantActions(grantee, LEDGER_ACTIONS.segment);
  }

  /** What the importer's ledger calls: its batches' jobs, the imported users' entries and outcomes, its run's figures. */
  grantImporter(grantee: iam.IGrantable): iam.Grant {
    return this.grantActions(grantee, LEDGER_ACTIONS.importer);
  }

  grantConsumer(grantee: iam.IGrantable): iam.Grant {
    return this.grantActions(grantee, LEDGER_ACTIONS.consumer);
  }

  /** What the reconcile's ledger calls: its job and record, entries read, seeded and deleted, the managed users. */
  grantReconcile(grantee: iam.IGrantable): iam.Grant {
    return this.grantActions(grantee, LEDGER_ACTIONS.reconcile);
  }

  /**
   * What the watch's ledger calls: its repair history and record, the entries of edited users, and the users index
   * (Query on that index alone, not the table's other indexes). A stack without the watch has no users index.
   */
  grantWatch(grantee: iam.IGrantable): iam.Grant {
    return this.grantActions(grantee, LEDGER_ACTIONS.watch).combine(
      iam.Grant.addToPrincipal({ grantee, actions: ["dynamodb:Query"], resourceArns: [this.usersIndexArn] }),
    );
  }

  /** The users index's ARN (the index exists only with the watch). */
  get usersIndexArn(): string {
    return `${this.table.tableArn}/index/${USERS_INDEX.name}`;
  }

  // Exact actions on the table ARN only (TableV2.grant would add its index).
  private grantActions(grantee: iam.IGrantable, actions: readonly string[]): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: actions.map((a) => `dynamodb:${a}`), resourceArns: [this.table.tableArn] });
  }
}
