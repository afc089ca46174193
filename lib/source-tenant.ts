/**
 * What reading a copy's source tenant needs (source.type auth0, docs/tenant-copy.md): its M2M credentials and the
 * pseudonymisation key, each the config's secret or one this stack creates (the key generated, never seen by
 * anyone), readable by the extractor alone. The consumer never sees either: it gets pseudonymised rows.
 */
import { RemovalPolicy, Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as secrets from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import type { Auth0SourceConfig, TransformConfig } from "../functions/core/tenant-copy-config.js";
import type { SyncFunction } from "./sync-function.js";

export interface SourceTenantProps {
  name: string;
  source: Auth0SourceConfig;
  transform?: TransformConfig;
}

export class SourceTenant extends Construct {
  readonly credentialsSecret: secrets.ISecret;
  readonly keySecret: secrets.ISecret;

  constructor(scope: Construct, id: string, props: SourceTenantProps) {
    super(scope, id);
    const { source, transform, name } = props;
    if (source.credentialsSecretArn) this.credentialsSecret = secrets.Secret.fromSecretCompleteArn(this, "Credentials", source.credentialsSecretArn);
    else {
      const secret = new secrets.Secret(this, "Credentials", {
        description: `Source tenant (${source.domain}) M2M credentials for copy ${name}, read:users only: fill with {"client_id":"...","client_secret":"..."}`,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      Validations.of(secret).acknowledge({ id: "AwsSolutions-SMG4", reason: "Auth0 client secrets are rotated in Auth0 (the M2M application's credentials), then pasted here." });
      this.credentialsSecret = secret;
    }
    if (transform?.keySecretArn) this.keySecret = secrets.Secret.fromSecretCompleteArn(this, "PseudonymKey", transform.keySecretArn);
    else {
      // Kept when the stack goes: a new key would give every copied user new pseudonyms (a full re-copy).
      const secret = new secrets.Secret(this, "PseudonymKey", {
        description: `Pseudonymisation key of copy ${name} (keyed HMAC): whoever reads it can test guesses against pseudonyms`,
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
        removalPolicy: RemovalPolicy.RETAIN,
      });
      Validations.of(secret).acknowledge({ id: "AwsSolutions-SMG4", reason: "Rotating the pseudonymisation key would change every pseudonym in the target; it is replaced on purpose, not on a schedule." });
      this.keySecret = secret;
    }
  }

  /** The extractor reads both secrets (Powertools' getSecret: GetSecretValue only) and is told where they are. */
  grantRead(fn: SyncFunction): void {
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [this.credentialsSecret.secretArn, this.keySecret.secretArn] }));
    fn.addEnvironment("SOURCE_CREDENTIALS_SECRET_ARN", this.credentialsSecret.secretArn);
    fn.addEnvironment("PSEUDONYM_KEY_SECRET_ARN", this.keySecret.secretArn);
  }
}
