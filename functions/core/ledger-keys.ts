/**
 * The ledger table's key names, shared by the DynamoDB adapter, the CDK table and the local table so the three
 * cannot drift apart.
 */
export const LEDGER_PARTITION_KEY = "pk";

/** The sparse index over run items only (newest first by startedAt): `status` never scans the identities. */
export const RUNS_INDEX = { name: "runs", partitionKey: "runIndex", sortKey: "startedAt", value: "run" } as const;
