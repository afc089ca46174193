import { createSqsServer } from "local-aws-sqs";
import { SQSClient, ReceiveMessageCommand, SendMessageCommand, GetQueueAttributesCommand, CreateQueueCommand } from "@aws-sdk/client-sqs";
const server = await createSqsServer({ port: 0, hostname: "127.0.0.1" });
const port = (server.address() as any).port;
const c = new SQSClient({ endpoint: `http://127.0.0.1:${port}`, region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } });
const dlq = await c.send(new CreateQueueCommand({ QueueName: "dlq" }));
const dlqArn = (await c.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn;
const q = await c.send(new CreateQueueCommand({ QueueName: "main", Attributes: { VisibilityTimeout: "1", RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }) } }));
console.log(q.QueueUrl, dlqArn);
await c.send(new SendMessageCommand({ QueueUrl: q.QueueUrl, MessageBody: "hi" }));
for (let i = 0; i < 4; i++) {
  const r = await c.send(new ReceiveMessageCommand({ QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, AttributeNames: ["All"] }));
  console.log(i, r.Messages?.map((m) => [m.MessageId, m.Attributes]));
  await new Promise((r) => setTimeout(r, 1100));
}
console.log((await c.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ["All"] }))).Attributes);
server.close();
