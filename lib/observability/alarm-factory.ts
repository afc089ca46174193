/**
 * Every alarm of the stack goes through here (cdk-monitoring-constructs' AlarmFactory, in small): the naming
 * strategy, the action strategy and the defaults live in one place, and an alarm says only what is its own.
 */
import type { Construct } from "constructs";
import * as cw from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as sns from "aws-cdk-lib/aws-sns";

/** `auth0-sync-<sync name>-`: the CLI's `status` finds the alarms by this prefix, which the stack outputs. */
export const alarmNamePrefix = (syncName: string) => `auth0-sync-${syncName}-`;

export interface AlarmFactoryProps {
  syncName: string;
  /** Notified when an alarm fires and when it is OK again. */
  topic: sns.ITopic;
}

export interface AddAlarmProps {
  /** The end of the alarm's name after the prefix, and its construct id (so its logical id). */
  alarmNameSuffix: string;
  alarmDescription: string;
  threshold: number;
  comparisonOperator: cw.ComparisonOperator;
  /** @default 1 */
  evaluationPeriods?: number;
  /** @default NOT_BREACHING: a metric with no datapoint means nothing happened. */
  treatMissingData?: cw.TreatMissingData;
}

export class AlarmFactory {
  readonly alarmNamePrefix: string;

  /** @param scope where the alarms are created: their logical ids are the scope's path and the name suffix. */
  constructor(
    private readonly scope: Construct,
    private readonly props: AlarmFactoryProps,
  ) {
    this.alarmNamePrefix = alarmNamePrefix(props.syncName);
  }

  addAlarm(metric: cw.IMetric, props: AddAlarmProps): cw.Alarm {
    const alarm = new cw.Alarm(this.scope, props.alarmNameSuffix, {
      alarmName: `${this.alarmNamePrefix}${props.alarmNameSuffix}`,
      alarmDescription: props.alarmDescription,
      metric,
      threshold: props.threshold,
      comparisonOperator: props.comparisonOperator,
      evaluationPeriods: props.evaluationPeriods ?? 1,
      treatMissingData: props.treatMissingData ?? cw.TreatMissingData.NOT_BREACHING,
    });
    // The action strategy: the topic, for ALARM and for OK.
    const notify = new actions.SnsAction(this.props.topic);
    alarm.addAlarmAction(notify);
    alarm.addOkAction(notify);
    return alarm;
  }
}
