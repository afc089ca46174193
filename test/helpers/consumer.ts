import type { Context, SQSRecord } from "aws-lambda";
import { fingerprint } from "../../functions/core/fingerprint.js";
import { ProfileMapper } from "../../functions/core/profile.js";
import type { SyncConfig } from "../../functions/core/config.js";
import type { Row } from "../../functions/core/types.js";
import type { UserOperation } from "../../functions/adapters/sqs/message.js";

/** Sync operations for rows, as the extractor would enqueue them (a row that does not map fails the test). */
export function opsFor(config: SyncConfig, rows: Row[]): UserOperation[] {
  const mapper = new ProfileMapper(config);
  return rows.map((r, i) => {
    const m = mapper.map(r, i + 1);
    if (!m.ok) throw new Error(m.rejection.reason);
    return { kind: "sync", row: i + 1, keyLabel: m.profile.key, fingerprint: fingerprint(m.profile), desired: m.profile };
  });
}

/** An SQS record as Lambda's event source hands it over. */
export const sqsRecord = (id: string, body: string): SQSRecord => ({
  messageId: id,
  receiptHandle: id,
  body,
  attributes: { ApproximateReceiveCount: "1", SentTimestamp: "0", SenderId: "x", ApproximateFirstReceiveTimestamp: "0" },
  messageAttributes: {},
  md5OfBody: "",
  eventSource: "aws:sqs",
  eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:q",
  awsRegion: "us-east-1",
});

/** A Lambda context with this much time left. */
export const lambdaContext = (remainingMs: number): Context =>
  ({ getRemainingTimeInMillis: () => remainingMs, functionName: "consumer", awsRequestId: "req" }) as unknown as Context;
