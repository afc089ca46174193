/**
 * A local stand-in for an EventBridge event bus: rules with event patterns, and SQS queues as their targets (the
 * target delivers the whole event as the message body, as EventBridge's SQS target does). The watch's rule is the
 * one the stack deploys (core/watch.ts `watchEventPattern`), matched here with EventBridge's rules for the part of
 * the pattern language it uses: a field must be present; an array lists the values that match (exact strings,
 * `prefix`, `anything-but`); an object goes one level down; an event's array field matches when any element does.
 */
import { randomUUID } from "node:crypto";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";

type Matcher = string | number | boolean | null | { prefix: string } | { "anything-but": (string | number)[] | string | number };
export type EventPattern = { [field: string]: Matcher[] | EventPattern };

export interface BusEvent {
  version: "0";
  id: string;
  "detail-type": string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

function matchesValue(m: Matcher, v: unknown): boolean {
  if (m !== null && typeof m === "object") {
    if ("prefix" in m) return typeof v === "string" && v.startsWith(m.prefix);
    const not = m["anything-but"];
    return !(Array.isArray(not) ? not : [not]).includes(v as string | number);
  }
  return m === v;
}

/** Whether an event matches a pattern, as EventBridge decides it (for the matchers above). */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  if (event === null || typeof event !== "object") return false;
  const obj = event as Record<string, unknown>;
  return Object.entries(pattern).every(([field, p]) => {
    if (!(field in obj) || obj[field] === undefined) return false;
    const v = obj[field];
    if (!Array.isArray(p)) return matchesPattern(p, v);
    const values = Array.isArray(v) ? v : [v];
    return values.some((x) => p.some((m) => matchesValue(m, x)));
  });
}

export interface BusRule {
  name: string;
  pattern: EventPattern;
  queueUrl: string;
}

export class LocalEventBus {
  private readonly rules: BusRule[] = [];
  /** Events put, and deliveries made, for tests and the CLI's summary. */
  readonly stats = { put: 0, delivered: 0 };

  constructor(
    private readonly sqs: SQSClient,
    readonly name: string,
  ) {}

  addRule(rule: BusRule): void {
    this.rules.push(rule);
  }

  /** Puts an event on the bus: every rule whose pattern matches delivers it to its queue. */
  async put(e: Omit<BusEvent, "version" | "id" | "account" | "region" | "resources"> & Partial<BusEvent>): Promise<void> {
    const event: BusEvent = { version: "0", id: randomUUID(), account: "000000000000", region: "us-east-1", resources: [], ...e };
    this.stats.put++;
    for (const r of this.rules) {
      if (!matchesPattern(r.pattern, event)) continue;
      await this.sqs.send(new SendMessageCommand({ QueueUrl: r.queueUrl, MessageBody: JSON.stringify(event) }));
      this.stats.delivered++;
    }
  }
}
