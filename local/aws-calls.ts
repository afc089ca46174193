/**
 * Every AWS SDK command a Lambda handler sends in the local pipeline, recorded by a middleware on the clients the
 * handlers get. Locally nothing enforces IAM (dynalite and local-aws-sqs accept any call), so the IAM coverage
 * test (test/lib/iam-coverage.test.ts) checks these calls against the roles of the synthesized stack.
 */
export type LambdaName = "extractor" | "consumer" | "reconcile" | "segment" | "importer" | "watch";
/** Who makes a call: a Lambda's role, or the unload state machine's (its SDK integrations, its ItemReader, its invokes). */
export type Caller = LambdaName | "states";

export interface AwsCall {
  fn: Caller;
  /** The IAM service prefix, e.g. "dynamodb". */
  service: string;
  /** The API operation, e.g. "GetItem" (IAM action `dynamodb:GetItem`). */
  operation: string;
  /** The resource names the call's input names: a table (and index), a queue URL, a workgroup or cluster. */
  resources: { table?: string; index?: string; queueUrl?: string; workgroup?: string; cluster?: string; secretId?: string; functionName?: string; bucket?: string; key?: string };
}

const SERVICE_OF: Record<string, string> = {
  DynamoDBClient: "dynamodb",
  SQSClient: "sqs",
  RedshiftDataClient: "redshift-data",
  SecretsManagerClient: "secretsmanager",
  LambdaClient: "lambda",
  S3Client: "s3",
};

function resourcesOf(input: Record<string, unknown>): AwsCall["resources"] {
  const r: AwsCall["resources"] = {};
  if (typeof input.TableName === "string") r.table = input.TableName;
  // Batch operations name their tables as the keys of RequestItems (the ledger has one table).
  if (input.RequestItems && typeof input.RequestItems === "object") r.table = Object.keys(input.RequestItems)[0];
  if (typeof input.IndexName === "string") r.index = input.IndexName;
  if (typeof input.QueueUrl === "string") r.queueUrl = input.QueueUrl;
  if (typeof input.WorkgroupName === "string") r.workgroup = input.WorkgroupName;
  if (typeof input.ClusterIdentifier === "string") r.cluster = input.ClusterIdentifier;
  if (typeof input.SecretId === "string") r.secretId = input.SecretId;
  if (typeof input.FunctionName === "string") r.functionName = input.FunctionName;
  if (typeof input.Bucket === "string") r.bucket = input.Bucket;
  if (typeof input.Key === "string") r.key = input.Key;
  return r;
}

type Handler = (args: { input: unknown }) => Promise<unknown>;
/** The part of an AWS SDK v3 client's middleware stack used here. */
interface MiddlewareStack {
  add(middleware: (next: Handler, context: { clientName?: string; commandName?: string }) => Handler, options: { step: "initialize"; name: string; override?: boolean }): void;
}

/**
 * Adds the recording middleware to a client (the DynamoDB document client shares its client's stack, so its
 * commands are recorded as the DynamoDB operations they send). Returns the client.
 */
export function recordCalls<C extends { middlewareStack: { add: unknown } }>(client: C, fn: Caller, log: AwsCall[]): C {
  const stack = client.middlewareStack as unknown as MiddlewareStack;
  stack.add(
    (next, context) => async (args) => {
      const service = SERVICE_OF[context.clientName ?? ""] ?? String(context.clientName);
      const operation = String(context.commandName ?? "").replace(/Command$/, "");
      log.push({ fn, service, operation, resources: resourcesOf(args.input as Record<string, unknown>) });
      return next(args);
    },
    { step: "initialize", name: "auth0SyncAwsCallRecorder", override: true },
  );
  return client;
}
