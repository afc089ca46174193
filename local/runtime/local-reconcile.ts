/**
 * A reconcile on one machine: the real reconcile handler against the stand-ins (the Auth0 emulator's export jobs,
 * dynalite's ledger, the local queue), invoked again while its export job runs, as the deployed function invokes
 * itself; then the repairs it sent are consumed by the real consumer handlers, as any run's users are.
 */
import { Auth0Snapshot } from "../../functions/adapters/auth0/snapshot.js";
import { QueueSender } from "../../functions/adapters/sqs/sender.js";
import { RedshiftSource } from "../../functions/adapters/redshift/source.js";
import { InvokeCommand } from "@aws-sdk/client-lambda";
import { OUTCOMES, type Outcome, type OutcomeEvent } from "../../functions/core/outcomes.js";
import { reconcileAdmission } from "../../functions/flows/reconcile-admission.js";
import { createReconcileHandler } from "../../functions/flows/reconcile-lambda.js";
import { queueDepth } from "../../functions/adapters/sqs/redrive.js";
import type { ReconcileResult } from "../../functions/flows/reconcile-run.js";
import type { SessionResult } from "../../functions/flows/reconcile-session.js";
import { LocalEnvironment, type LocalEnvironmentOptions } from "./environment.js";
import { fakeContext } from "./lambda-context.js";

/** Lambda's retries of a failed asynchronous invocation (the schedule's and the function's own continuation). */
const ASYNC_RETRIES = 2;

export interface LocalReconcileOptions extends LocalEnvironmentOptions {
  /** Report only: no ledger write, no repair. */
  dryRun?: boolean;
  /** Override the config's `reconcile.repair` (default: the config's, else true). */
  repair?: boolean;
  /** The function's timeout (default 15 minutes): shorter than the export makes the reconcile continue across invocations. */
  functionTimeoutMs?: number;
  /** Export job polling (default: 100 ms doubling to 1 s; the deployed function waits 1 s doubling to 30 s). */
  poll?: { initialMs?: number; maxMs?: number };
  /** At most this many invocations (default 100): a job that never ends fails the local run instead of looping. */
  maxInvocations?: number;
  onEnvironment?: (env: LocalEnvironment) => void | Promise<void>;
  /**
   * Called once the reconcile is recorded and its repairs are in the queue, before the consumers take them: what
   * `auth0-sync status` shows if the process stops there (the local queue ends with it).
   */
  onRepairsQueued?: (result: ReconcileResult, env: LocalEnvironment) => void | Promise<void>;
}

export interface LocalReconcileSummary extends ReconcileResult {
  /** Invocations of the reconcile function (more than one when the export outlived one). */
  invocations: number;
  /** The repairs' outcomes, as the consumers settled them (the same counts the ledger keeps under the reconcile's id). */
  repairOutcomes: Record<Outcome, number>;
  /** Management API calls of the whole reconcile: the export's and the repairs'. */
  auth0CallsWithRepairs: number;
}

export async function runLocalReconcile(opts: LocalReconcileOptions): Promise<LocalReconcileSummary> {
  const env = await LocalEnvironment.start(opts);
  try {
    await opts.onEnvironment?.(env);
    const config = env.config;
    const adapters = [env.auth0Adapter()];
    const lambda = env.handlerLambda("reconcile");
    const handler = createReconcileHandler(({ logger }) => {
      const auth0 = adapters[0]!;
      const sqs = env.handlerSqs("reconcile");
      const sender = new QueueSender(sqs, env.queueUrl);
      const ledger = env.ledgerFor!("reconcile");
      return {
        config,
        ledger,
        auth0,
        reader: new Auth0Snapshot(auth0, { connection: config.auth0.connection, poll: { initialMs: opts.poll?.initialMs ?? 100, maxMs: opts.poll?.maxMs ?? 1000 } }),
        rows: config.source.type === "redshift" ? new RedshiftSource(env.redshiftClient("reconcile"), config.source, { minMs: 10, maxMs: 200 }) : undefined,
        send: (bodies) => sender.send(bodies),
        logger,
        repair: opts.repair ?? config.reconcile?.repair ?? true,
        admit: () => reconcileAdmission(ledger, () => queueDepth(sqs, env.queueUrl)),
        continueLater: async (event, context) => {
          await lambda.send(new InvokeCommand({ FunctionName: context.functionName, InvocationType: "Event", Payload: JSON.stringify(event) }));
        },
      };
    });
    const event = { dryRun: opts.dryRun === true };
    let invocations = 0;
    let failures = 0;
    let result: ReconcileResult | undefined;
    while (!result) {
      if (++invocations > (opts.maxInvocations ?? 100)) throw new Error(`the export job did not complete in ${invocations - 1} invocations`);
      let out: SessionResult | undefined;
      try {
        out = await handler(event, fakeContext(opts.functionTimeoutMs ?? 15 * 60_000, "reconcile"));
        failures = 0;
      } catch (err) {
        // Lambda retries a failed asynchronous invocation twice (a timeout too); the recorded job is continued.
        if (++failures > ASYNC_RETRIES) throw err;
      }
      if (out?.state === "skipped") throw new Error(`The reconcile did not start: ${out.reason}.`);
      if (out?.state === "completed") result = out.result;
    }
    const done = result;
    const repairOutcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
    if (done.repairsQueued > 0) {
      await opts.onRepairsQueued?.(done, env);
      const seen = new Set<string>();
      const consumers = await env.drain({
        onOutcome: (e: OutcomeEvent) => {
          if (e.runId !== done.runId || seen.has(e.key)) return;
          seen.add(e.key);
          repairOutcomes[e.outcome]++;
        },
      });
      adapters.push(...consumers);
    }
    await env.save();
    return { ...done, invocations, repairOutcomes, auth0CallsWithRepairs: adapters.reduce((s, a) => s + a.stats.calls, 0) };
  } finally {
    await env.stop();
  }
}
