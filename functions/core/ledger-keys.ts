/**
 * The ledger table's key names, shared by the DynamoDB adapter, the CDK table and the local table so the three
 * cannot drift apart.
 */
export const LEDGER_PARTITION_KEY = "pk";

/** The prefix of an identity's item: `K#<identity key>` (runs, the lock and reconcile items have others). */
export const IDENTITY_PREFIX = "K#";

/**
 * The longest identity key the ledger can hold, in UTF-8 bytes: DynamoDB refuses a partition key over 2,048 bytes,
 * and the item's key is the prefix and the identity key. A longer key is rejected with its row (`key_too_long`)
 * before anything is sent: it could never be recorded, so it would fail at every delivery and every run.
 */
export const MAX_IDENTITY_KEY_BYTES = 2048 - Buffer.byteLength(IDENTITY_PREFIX);

/** Whether a key fits the ledger (see MAX_IDENTITY_KEY_BYTES). */
export const fitsLedger = (key: string): boolean => Buffer.byteLength(key, "utf8") <= MAX_IDENTITY_KEY_BYTES;

/** The sparse index over run items only (newest first by startedAt): `status` never scans the identities. */
export const RUNS_INDEX = { name: "runs", partitionKey: "runIndex", sortKey: "startedAt", value: "run" } as const;

/**
 * The sparse index over identity items by Auth0 user id (keys only): the watch learns which key a log event's user
 * is without a scan. Only items that carry a userId are in it.
 */
export const USERS_INDEX = { name: "users", partitionKey: "userId" } as const;
