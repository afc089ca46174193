/**
 * A function started on a schedule (EventBridge Scheduler): the extractor on `schedule`, the reconcile on
 * `reconcile.schedule`. Both with the same retries, event age and dead-letter queue, and the same cdk-nag note.
 */
import { Duration, Stack, Validations } from "aws-cdk-lib";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as targets from "aws-cdk-lib/aws-scheduler-targets";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";

export interface FunctionScheduleProps {
  fn: lambda.Function;
  /** A rate() or cron() expression. */
  expression: string;
  description: string;
  /** Invocations the scheduler could not deliver. */
  deadLetterQueue: sqs.IQueue;
  /** The function's role in the nag note ("the extractor"). */
  what: string;
}

export function scheduleFunction(scope: Construct, id: string, props: FunctionScheduleProps): scheduler.Schedule {
  const stack = Stack.of(scope);
  const schedule = new scheduler.Schedule(scope, id, {
    schedule: scheduler.ScheduleExpression.expression(props.expression),
    description: props.description,
    target: new targets.LambdaInvoke(props.fn, {
      input: scheduler.ScheduleTargetInput.fromObject({ source: "schedule" }),
      // A start that cannot happen soon is better skipped than piled up: the next period brings a fresh one.
      retryAttempts: 2,
      maxEventAge: Duration.minutes(15),
      deadLetterQueue: props.deadLetterQueue,
    }),
  });
  Validations.of(stack).acknowledge({
    id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${stack.getLogicalId(props.fn.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
    reason: `The scheduler's role may invoke ${props.what}'s versions and aliases (CDK's LambdaInvoke target); it is this one function only.`,
  });
  return schedule;
}
