/**
 * The Secrets Manager reads a handler's production dependencies make (its Auth0 credentials), recorded as AWS
 * calls for the IAM coverage tests: the handler's `defaultDeps` is run once with the given environment against a
 * mocked Secrets Manager, and each GetSecretValue it sent becomes a call of `fn`.
 */
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { clearCaches } from "@aws-lambda-powertools/parameters";
import { mockClient } from "aws-sdk-client-mock";
import type { AwsCall, LambdaName } from "../../local/aws-calls.js";
import type { Powertools } from "../../functions/commons/powertools.js";

export async function secretReadsOf(fn: LambdaName, defaultDeps: (base: Powertools) => unknown, env: Record<string, string>): Promise<AwsCall[]> {
  const sm = mockClient(SecretsManagerClient);
  sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ client_id: "id", client_secret: "secret" }) });
  const saved = { ...process.env };
  try {
    delete process.env.AUTH0_CLIENT_ID;
    delete process.env.AUTH0_CLIENT_SECRET;
    clearCaches();
    Object.assign(process.env, env);
    await defaultDeps({ logger: new Logger({ logLevel: "SILENT" }), metrics: new Metrics({ namespace: "Test" }) });
    return sm.commandCalls(GetSecretValueCommand).map((c) => ({ fn, service: "secretsmanager", operation: "GetSecretValue", resources: { secretId: c.args[0].input.SecretId } }));
  } finally {
    process.env = saved;
    sm.restore();
  }
}
