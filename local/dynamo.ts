/**
 * DynamoDB on 127.0.0.1 for the ledger: dynalite, in memory or persisted in a directory.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { BatchWriteItemCommand, CreateTableCommand, DeleteTableCommand, DescribeTableCommand, ScanCommand, waitUntilTableNotExists, type AttributeValue, DynamoDBClient, ResourceNotFoundException, waitUntilTableExists } from "@aws-sdk/client-dynamodb";
import dynalite from "dynalite";

import { LEDGER_PARTITION_KEY as LEDGER_KEY, RUNS_INDEX, USERS_INDEX } from "../functions/core/ledger-keys.js";

export interface LocalDynamo {
  endpoint: string;
  client: DynamoDBClient;
  stop(): Promise<void>;
}

export async function startDynamo(path?: string): Promise<LocalDynamo> {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(path ? { path } : {}) });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } });
  return {
    endpoint,
    client,
    stop: () =>
      new Promise<void>((resolve) => {
        client.destroy();
        server.close(() => resolve());
      }),
  };
}

const RUNS_INDEX_SPEC = {
  IndexName: RUNS_INDEX.name,
  KeySchema: [
    { AttributeName: RUNS_INDEX.partitionKey, KeyType: "HASH" as const },
    { AttributeName: RUNS_INDEX.sortKey, KeyType: "RANGE" as const },
  ],
  Projection: { ProjectionType: "ALL" as const },
};

const USERS_INDEX_SPEC = {
  IndexName: USERS_INDEX.name,
  KeySchema: [{ AttributeName: USERS_INDEX.partitionKey, KeyType: "HASH" as const }],
  Projection: { ProjectionType: "KEYS_ONLY" as const },
};

const INDEXES = [RUNS_INDEX_SPEC, USERS_INDEX_SPEC];

/** Creates the ledger table (on-demand, as deployed) unless it exists. */
export async function ensureLedgerTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    const t = await client.send(new DescribeTableCommand({ TableName: tableName }));
    // A state directory from before an index (runs, users): rebuild the table with it (dynalite cannot add an index;
    // deployed tables get it from CloudFormation).
    if (!INDEXES.every((x) => t.Table?.GlobalSecondaryIndexes?.some((i) => i.IndexName === x.IndexName))) {
      const items: Record<string, AttributeValue>[] = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      await client.send(new DeleteTableCommand({ TableName: tableName }));
      await waitUntilTableNotExists({ client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.2 }, { TableName: tableName });
      await createLedgerTable(client, tableName);
      for (let i = 0; i < items.length; i += 25) {
        await client.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
      }
    }
    return;
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw err;
  }
  await createLedgerTable(client, tableName);
}

async function createLedgerTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: LEDGER_KEY, AttributeType: "S" },
        { AttributeName: RUNS_INDEX.partitionKey, AttributeType: "S" },
        { AttributeName: RUNS_INDEX.sortKey, AttributeType: "S" },
        { AttributeName: USERS_INDEX.partitionKey, AttributeType: "S" },
      ],
      KeySchema: [{ AttributeName: LEDGER_KEY, KeyType: "HASH" }],
      // The users index always, locally: deployed, it is there only with the watch (lib/ledger-table.ts).
      GlobalSecondaryIndexes: INDEXES,
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  // CreateTable returns while the table is CREATING; writes before ACTIVE fail with ResourceNotFound.
  await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.2 }
, { TableName: tableName });
}
