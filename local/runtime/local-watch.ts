/**
 * The watch on one machine (`auth0-sync watch --local`, docs/watch.md): the Auth0 emulator's tenant log feeds a
 * local event bus carrying the stack's own rule (core/watch.ts `watchEventPattern`), whose target is a local watch
 * queue with its DLQ; the real watch handler takes it as its event source would (batches of 100 within a batching
 * window, at most two at once), and its repairs go to the sync's queue, where the real consumer handlers apply
 * them. Runs until the signal is aborted (Ctrl-C).
 */
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import type { Auth0Adapter } from "../../functions/adapters/auth0/client.js";
import { QueueSender } from "../../functions/adapters/sqs/sender.js";
import { parseConfig, type SyncConfig } from "../../functions/core/config.js";
import { OUTCOMES, type Outcome, type OutcomeEvent } from "../../functions/core/outcomes.js";
import { WATCH_DELIVERY, watchEventPattern } from "../../functions/core/watch.js";
import { createWatchHandler } from "../../functions/flows/watch-lambda.js";
import type { WatchBatchResult } from "../../functions/flows/watch-run.js";
import type { TenantLogEntry } from "../auth0-emulator-logs.js";
import { LocalEventBus } from "../event-bus.js";
import { LocalEnvironment, type LocalEnvironmentOptions } from "./environment.js";
import { drainQueue } from "./sqs-event-source.js";

/** The partner event source a local watch listens to when the config names none (Auth0's naming, a local tenant). */
export const LOCAL_EVENT_SOURCE = "aws.partner/auth0.com/local-emulator-00000000/auth0.logs";
/** The deployed event source's batching window (core/watch.ts WATCH_DELIVERY, as the stack sets it). */
export const WATCH_BATCH_WINDOW_MS = WATCH_DELIVERY.windowSeconds * 1000;

export interface LocalWatchOptions extends LocalEnvironmentOptions {
  /** Ctrl-C: no new event is taken, the batches and repairs under way finish. */
  signal: AbortSignal;
  /** The event source's batching window (default the deployed 5 s). */
  batchWindowMs?: number;
  onEnvironment?: (env: LocalEnvironment) => void | Promise<void>;
  /** The local bus, once its rule is in place and the tenant log feeds it (tests put events on it again: the stream delivers at least once). */
  onBus?: (bus: LocalEventBus) => void;
  /** Each batch the watch judged. */
  onBatch?: (result: WatchBatchResult) => void;
  /** Each repair the consumers settled. */
  onOutcome?: (e: OutcomeEvent) => void;
}

export interface LocalWatchSummary {
  /** Events the emulator's log put on the bus, and those the rule delivered to the watch queue. */
  logged: number;
  delivered: number;
  batches: number;
  repairsQueued: number;
  /** The repairs' outcomes, as the consumers settled them. */
  repairOutcomes: Record<Outcome, number>;
  /** Management API calls of the watch's reads and of the repairs. */
  auth0Calls: number;
}

/** The config a local watch runs with: the config's watch (or the defaults on the local source), the local client as the sync's own. */
export function localWatchConfig(config: SyncConfig, clientId: string): SyncConfig {
  const watch = config.watch ?? parseConfig(JSON.stringify({ ...config, auth0: { ...config.auth0, clientId }, watch: { eventSource: LOCAL_EVENT_SOURCE } })).watch!;
  return { ...config, auth0: { ...config.auth0, clientId }, watch: { ...watch, enabled: true } };
}

export async function runLocalWatch(opts: LocalWatchOptions): Promise<LocalWatchSummary> {
  const env = await LocalEnvironment.start(opts);
  try {
    const emulator = env.emulator;
    if (!emulator) throw new Error("auth0-sync watch --local reads the Auth0 emulator's tenant log: it cannot watch a real tenant (deploy the stack for that; docs/watch.md)");
    const config = localWatchConfig(env.config, env.auth0Target.credentials.clientId);
    env.config = config;
    await opts.onEnvironment?.(env);
    const watch = config.watch!;
    const queues = await watchQueues(env, config);
    const bus = new LocalEventBus(env.sqs, watch.eventSource);
    bus.addRule({ name: "watch", pattern: watchEventPattern([config.auth0.clientId!, ...watch.ignoreClients]), queueUrl: queues.url });
    // Auth0's log stream: every log entry, as the partner event source puts it on the bus.
    const putting = new Set<Promise<void>>();
    const unsubscribe = emulator.tenantLog.subscribe((entry: TenantLogEntry) => {
      const p = bus.put({ "detail-type": "Auth0 log", source: watch.eventSource, time: entry.date, detail: { log_id: entry.log_id, data: entry } }).finally(() => putting.delete(p));
      putting.add(p);
    });
    // Listening from here: an edit made now reaches the watch.
    opts.onBus?.(bus);
    const summary: LocalWatchSummary = { logged: 0, delivered: 0, batches: 0, repairsQueued: 0, repairOutcomes: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>, auth0Calls: 0 };
    const adapters: Auth0Adapter[] = [];
    const stopped = new Promise<void>((resolve) => (opts.signal.aborted ? resolve() : opts.signal.addEventListener("abort", () => resolve(), { once: true })));
    const watching = drainQueue(
      {
        sqs: env.sqs,
        queueUrl: queues.url,
        queueArn: queues.arn,
        batchSize: WATCH_DELIVERY.batchSize,
        batchingWindowMs: opts.batchWindowMs ?? WATCH_BATCH_WINDOW_MS,
        maxConcurrency: WATCH_DELIVERY.concurrency,
        timeoutMs: WATCH_DELIVERY.timeoutSeconds * 1000,
        retryDelaySeconds: opts.retryDelaySeconds,
        newInstance: () => ({
          handler: createWatchHandler(({ logger }) => {
            const auth0 = env.auth0Adapter();
            adapters.push(auth0);
            const sender = new QueueSender(env.handlerSqs("watch"), env.queueUrl);
            return {
              config,
              auth0,
              logger,
              ledger: env.ledgerFor!("watch"),
              ownClientIds: [env.auth0Target.credentials.clientId],
              onBatch: (r) => {
                summary.batches++;
                summary.repairsQueued += r.actions.repaired;
                opts.onBatch?.(r);
              },
              send: async (bodies) => {
                await sender.send(bodies);
              },
            };
          }),
          retire: () => undefined,
        }),
      },
      { until: stopped.then(() => Promise.all(putting)), signal: opts.signal },
    );
    const record = (e: OutcomeEvent) => {
      summary.repairOutcomes[e.outcome]++;
      opts.onOutcome?.(e);
    };
    // The repairs: the sync's queue, drained by the consumers until the watch has stopped and they are applied.
    const consumers = await env.drain({ onOutcome: record, until: watching });
    unsubscribe();
    summary.logged = bus.stats.put;
    summary.delivered = bus.stats.delivered;
    summary.auth0Calls = [...adapters, ...consumers].reduce((n, a) => n + a.stats.calls, 0);
    return summary;
  } finally {
    await env.stop();
  }
}

/** The watch queue and its own DLQ (events that fail five times), as the stack makes them. */
async function watchQueues(env: LocalEnvironment, config: SyncConfig): Promise<{ url: string; arn: string; dlqUrl: string }> {
  const arnOf = async (url: string) => (await env.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
  const dlqUrl = (await env.sqs.send(new CreateQueueCommand({ QueueName: `${config.name}-watch-dlq`, Attributes: { MessageRetentionPeriod: String(14 * 86400) } }))).QueueUrl!;
  const url = (
    await env.sqs.send(
      new CreateQueueCommand({
        QueueName: `${config.name}-watch`,
        Attributes: { VisibilityTimeout: String(6 * WATCH_DELIVERY.timeoutSeconds), RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await arnOf(dlqUrl), maxReceiveCount: WATCH_DELIVERY.maxReceiveCount }) },
      }),
    )
  ).QueueUrl!;
  return { url, arn: await arnOf(url), dlqUrl };
}
