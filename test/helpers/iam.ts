/**
 * A small IAM evaluator over a synthesized template: which statements a role's policies hold, CloudFormation
 * expressions resolved to ARN strings (a resource of the stack as `logical:<LogicalId>`), and whether an action on
 * a resource is allowed (IAM's `*` and `?` wildcards; conditions are not evaluated: a statement with one counts as
 * allowing, which is what it does for the calls it was written for).
 */
import type { Template } from "aws-cdk-lib/assertions";
import type { AwsCall } from "../../local/aws-calls.js";

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

export const PARTITION = "aws";

/** A CloudFormation value as a string: pseudo parameters by value, the stack's resources as `logical:<id>`. */
export function resolve(expr: unknown, pseudo: { region: string; account: string }): string {
  if (typeof expr === "string") return expr;
  if (expr && typeof expr === "object") {
    const o = expr as Record<string, unknown>;
    if (typeof o.Ref === "string") {
      if (o.Ref === "AWS::Partition") return PARTITION;
      if (o.Ref === "AWS::Region") return pseudo.region;
      if (o.Ref === "AWS::AccountId") return pseudo.account;
      return `logical:${o.Ref}`;
    }
    if (Array.isArray(o["Fn::GetAtt"])) return `logical:${(o["Fn::GetAtt"] as string[])[0]}`;
    if (Array.isArray(o["Fn::Join"])) {
      const [sep, parts] = o["Fn::Join"] as [string, unknown[]];
      return parts.map((p) => resolve(p, pseudo)).join(sep);
    }
  }
  throw new Error(`cannot resolve ${JSON.stringify(expr)}`);
}

/** The statements of every policy attached to the role with this description. */
export function roleStatements(t: Template, roleDescription: string): Statement[] {
  const roles = Object.entries(t.findResources("AWS::IAM::Role")).filter(([, r]) => (r as { Properties: { Description?: string } }).Properties.Description === roleDescription);
  if (roles.length !== 1) throw new Error(`expected one role described '${roleDescription}', found ${roles.length}`);
  const roleId = roles[0]![0];
  return Object.values(t.findResources("AWS::IAM::Policy"))
    .map((p) => (p as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } }).Properties)
    .filter((p) => p.Roles.some((r) => r.Ref === roleId))
    .flatMap((p) => p.PolicyDocument.Statement);
}

function glob(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
  return re.test(value);
}

/** Whether an Allow statement grants `action` on `resource` (an ARN, or `*` for actions without a resource). */
export function allows(statements: Statement[], action: string, resource: string, pseudo: { region: string; account: string }): boolean {
  return statements.some(
    (s) =>
      s.Effect === "Allow" &&
      [s.Action].flat().some((a) => glob(a, action)) &&
      [s.Resource].flat().some((r) => {
        const pattern = resolve(r, pseudo);
        return resource === "*" ? pattern === "*" : glob(pattern, resource);
      }),
  );
}

/** Every action the statements grant. */
export function grantedActions(statements: Statement[]): string[] {
  return [...new Set(statements.filter((s) => s.Effect === "Allow").flatMap((s) => [s.Action].flat()))].sort();
}

/** A recorded call's IAM action (SendMessageBatch is authorized as SendMessage). */
export const actionOf = (c: AwsCall): string => `${c.service}:${c.service === "sqs" && c.operation === "SendMessageBatch" ? "SendMessage" : c.operation}`;

/** What a function behind an SQS event source holds for what AWS does on its behalf (logs, tracing, the mapping's polls). */
export const SQS_FUNCTION_ON_BEHALF: Record<string, string> = {
  "logs:CreateLogStream": "Lambda writes the function's logs",
  "logs:PutLogEvents": "Lambda writes the function's logs",
  "xray:PutTraceSegments": "Lambda's X-Ray tracing (lambda.tracing)",
  "xray:PutTelemetryRecords": "Lambda's X-Ray tracing (lambda.tracing)",
  "sqs:ReceiveMessage": "the SQS event source mapping polls with the function's role",
  "sqs:DeleteMessage": "the event source mapping deletes processed messages",
  "sqs:ChangeMessageVisibility": "the event source mapping returns failed messages",
  "sqs:GetQueueAttributes": "the event source mapping reads the queue",
  "sqs:GetQueueUrl": "the event source mapping resolves the queue",
};

/** The one resource of `type` whose properties `pick` accepts, as `logical:<LogicalId>` (none or several: the test fails). */
export function logicalIdIn(template: Template, type: string, pick: (p: Record<string, unknown>) => boolean): string {
  const ids = Object.entries(template.findResources(type)).filter(([, r]) => pick((r as { Properties: Record<string, unknown> }).Properties));
  if (ids.length !== 1) throw new Error(`expected one ${type} that matches, found ${ids.length}`);
  return `logical:${ids[0]![0]}`;
}
