/**
 * The watch (docs/watch.md): Auth0's tenant logs, streamed to EventBridge, name every Management API write with the
 * client that made it. This file holds the watch's decisions, all pure:
 * - which log events reach it (`watchEventPattern`, the one EventBridge pattern the deployed rule and the local bus
 *   both apply) and which of those are another client's write to a user (`readLogEvent`);
 * - what a batch of them asks for: one read per user and aspect however many events name it (`groupWrites`);
 * - what a managed user's state means (`judgeWatched`: the reconcile's own judgement, on the aspects read);
 * - whether a repair may go, or two writers are fighting over the user (`fightCheck`).
 */
import { z } from "zod";
import type { DecisionConfig, LedgerView } from "./decide.js";
import { userFromLedger } from "./decide.js";
import { judgeManaged, type TenantUser, type Verdict } from "./drift.js";

/** What a write touched, so the watch reads that and nothing more. */
export const WATCH_ASPECTS = ["profile", "roles", "organizations", "deleted"] as const;
export type WatchAspect = (typeof WATCH_ASPECTS)[number];

/**
 * The watch queue's event source and function, as the stack deploys them and the local runner plays them: up to
 * 100 events within a 5 s window (events for one user within it cost one read), two batches at once, a minute a
 * batch, five receives before the watch's DLQ.
 */
export const WATCH_DELIVERY = { batchSize: 100, windowSeconds: 5, concurrency: 2, timeoutSeconds: 60, maxReceiveCount: 5 } as const;

/** The EventBridge source of Auth0's partner event sources (`aws.partner/auth0.com/<tenant>-<uuid>/auth0.logs`). */
export const AUTH0_PARTNER_SOURCE_PREFIX = "aws.partner/auth0.com";

/** The Management API paths whose writes can change what the sync owns: users, their roles, organization members. */
export const WATCHED_PATH_PREFIXES = ["/api/v2/users/", "/api/v2/roles/", "/api/v2/organizations/"] as const;

/** The write methods Auth0 logs as `sapi` (reads are not logged). */
const WRITE_METHODS = ["POST", "PATCH", "PUT", "DELETE"] as const;

/**
 * The event pattern of the watch's rule: Auth0's successful Management API operations (`sapi`) on the watched
 * paths, made by any client but the sync's own and those the config ignores. The rule is a first filter only
 * (patterns cannot read a path's shape): `readLogEvent` checks the same again and reads the path.
 */
export function watchEventPattern(ownClientIds: readonly string[]): WatchEventPattern {
  return {
    source: [{ prefix: AUTH0_PARTNER_SOURCE_PREFIX }],
    detail: {
      data: {
        type: ["sapi"],
        client_id: [{ "anything-but": [...new Set(ownClientIds)].sort() }],
        // Auth0's sapi entries show the method in lower case ("post"); both cases, so a change of case loses nothing.
        details: { request: { method: [...WRITE_METHODS, ...WRITE_METHODS.map((m) => m.toLowerCase())], path: WATCHED_PATH_PREFIXES.map((prefix) => ({ prefix })) } },
      },
    },
  };
}

/** The subset of EventBridge's pattern language the watch uses: exact values, `prefix` and `anything-but` lists. */
export type PatternValue = string | { prefix: string } | { "anything-but": string[] };
export type WatchEventPattern = {
  source: PatternValue[];
  detail: { data: { type: string[]; client_id: PatternValue[]; details: { request: { method: string[]; path: PatternValue[] } } } };
};

/** One write by another client, as the watch acts on it. */
export interface WatchedWrite {
  logId: string;
  /** When Auth0 logged it (ISO). */
  date: string;
  clientId: string;
  clientName?: string;
  /** The users it names (a role's or an organization's members endpoint names several). */
  userIds: string[];
  aspect: WatchAspect;
}

export type WatchEvent =
  | { kind: "write"; write: WatchedWrite }
  /** Not the watch's: with why (counted by reason). */
  | { kind: "ignored"; reason: IgnoreReason; logId?: string };

export const IGNORE_REASONS = ["not-a-write", "own-client", "ignored-client", "not-a-user-path", "unreadable"] as const;
export type IgnoreReason = (typeof IGNORE_REASONS)[number];

const logEventSchema = z.object({
  data: z.object({
    log_id: z.string().min(1),
    date: z.string(),
    type: z.string(),
    client_id: z.string().optional(),
    client_name: z.string().optional(),
    details: z
      .object({
        request: z.object({ method: z.string(), path: z.string(), body: z.unknown().optional() }).optional(),
      })
      .optional(),
  }),
});

/**
 * An EventBridge event's `detail` (Auth0's `{ data: <log> }`): another client's write to users, or why not. The
 * sync's own client ids are checked here too, not only in the rule: a rule edited by hand, or a replayed stream
 * through another rule, must never make the sync repair its own writes.
 */
export function readLogEvent(detail: unknown, clients: { own: readonly string[]; ignored: readonly string[] }): WatchEvent {
  const parsed = logEventSchema.safeParse(detail);
  if (!parsed.success) return { kind: "ignored", reason: "unreadable" };
  const log = parsed.data.data;
  const request = log.details?.request;
  if (log.type !== "sapi" || !request || !(WRITE_METHODS as readonly string[]).includes(request.method.toUpperCase())) return { kind: "ignored", reason: "not-a-write", logId: log.log_id };
  const clientId = log.client_id ?? "";
  if (clients.own.includes(clientId)) return { kind: "ignored", reason: "own-client", logId: log.log_id };
  if (clients.ignored.includes(clientId)) return { kind: "ignored", reason: "ignored-client", logId: log.log_id };
  const target = userWriteOf(request.method.toUpperCase(), request.path, request.body);
  if (!target) return { kind: "ignored", reason: "not-a-user-path", logId: log.log_id };
  return { kind: "write", write: { logId: log.log_id, date: log.date, clientId, clientName: log.client_name, ...target } };
}

const ids = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string" && x.length > 0) : []);

/** The users a Management API write names, and what of them it touched; undefined for any other write. */
export function userWriteOf(method: string, rawPath: string, body: unknown): { userIds: string[]; aspect: WatchAspect } | undefined {
  // Split first, then decode each segment once: an id holding an encoded "/" stays one segment.
  const seg = (rawPath.split("?")[0] ?? "").replace(/^\/api\/v2\//, "").split("/").map(safeDecode);
  const b = (body ?? {}) as Record<string, unknown>;
  const one = (id: string | undefined, aspect: WatchAspect) => (id ? { userIds: [id], aspect } : undefined);
  if (seg[0] === "users" && seg.length === 2) {
    if (method === "PATCH" || method === "PUT") return one(seg[1], "profile");
    if (method === "DELETE") return one(seg[1], "deleted");
  }
  if (seg[0] === "users" && seg.length === 3 && seg[2] === "roles") return one(seg[1], "roles");
  if (seg[0] === "roles" && seg.length === 3 && seg[2] === "users") {
    const users = ids(b.users);
    return users.length > 0 ? { userIds: users, aspect: "roles" } : undefined;
  }
  if (seg[0] === "organizations" && seg.length === 3 && seg[2] === "members") {
    const members = ids(b.members);
    return members.length > 0 ? { userIds: members, aspect: "organizations" } : undefined;
  }
  if (seg[0] === "organizations" && seg.length === 5 && seg[2] === "members" && seg[4] === "roles") return one(seg[3], "organizations");
  return undefined;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** One user's share of a batch: the aspects to read (once each), and how many events named it. */
export interface WatchTarget {
  userId: string;
  aspects: Set<WatchAspect>;
  events: number;
  /** The earliest write's log date (the repair's latency counts from it). */
  firstDate: string;
  clients: Set<string>;
  /** The log ids of its events (the stream may deliver one again in a later batch). */
  logIds: string[];
}

/**
 * A batch's writes by user: several events for one user (a Dashboard save logs several writes; the stream delivers
 * at least once) cost one read per aspect, and an event seen twice (the same log_id) counts once. Order does not
 * matter: the watch reads the user's state now, not what an event says it became.
 */
export function groupWrites(writes: readonly WatchedWrite[]): { targets: WatchTarget[]; duplicates: number } {
  const seen = new Set<string>();
  const byUser = new Map<string, WatchTarget>();
  let duplicates = 0;
  for (const w of writes) {
    if (seen.has(w.logId)) {
      duplicates++;
      continue;
    }
    seen.add(w.logId);
    for (const userId of w.userIds) {
      const t = byUser.get(userId) ?? { userId, aspects: new Set<WatchAspect>(), events: 0, firstDate: w.date, clients: new Set<string>(), logIds: [] };
      t.aspects.add(w.aspect);
      t.events++;
      t.logIds.push(w.logId);
      t.clients.add(w.clientName ?? w.clientId);
      if (w.date < t.firstDate) t.firstDate = w.date;
      byUser.set(userId, t);
    }
  }
  return { targets: [...byUser.values()], duplicates };
}

/** Log ids remembered per watched user: enough for the redeliveries of a burst of edits. */
export const REMEMBERED_LOG_IDS = 50;

/**
 * Whether a user's events in this batch hold one the watch has not judged yet: a redelivery in a later batch (the
 * stream is at least once) of events already judged costs nothing, not even a read. Returns the ids to remember.
 */
export function unjudged(t: Pick<WatchTarget, "logIds">, judged: readonly string[]): { judge: boolean; remember: string[] } {
  const known = new Set(judged);
  const fresh = t.logIds.filter((id) => !known.has(id));
  return { judge: fresh.length > 0, remember: [...judged, ...fresh].slice(-REMEMBERED_LOG_IDS) };
}

/** What the watch read of a user: each part undefined when its aspect was not read; `user` null when Auth0 has no such user. */
export interface WatchedState {
  user?: TenantUser | null;
  roles?: string[];
  organizations?: Record<string, string[]>;
}

/** Which reads an event's aspects need: a deletion is confirmed by reading the user (it may be back already). */
export function readsFor(aspects: ReadonlySet<WatchAspect>): { user: boolean; roles: boolean; organizations: boolean } {
  return { user: aspects.has("profile") || aspects.has("deleted"), roles: aspects.has("roles"), organizations: aspects.has("organizations") };
}

/**
 * The user as the watch knows it: what it read, with the parts not read taken as the sync applied them (an event
 * on a user's roles says nothing of its name); null when Auth0 has no such user. What a repair plans against.
 */
export function watchedUser(entry: LedgerView & { userId: string; profile: NonNullable<LedgerView["profile"]> }, state: WatchedState): TenantUser | null {
  if (state.user === null) return null;
  const applied = entry.profile;
  return {
    ...(state.user ?? userFromLedger(entry.userId, applied)),
    roles: state.roles ?? applied.roles,
    organizations: state.organizations ?? applied.organizations,
  };
}

/** A managed user's verdict on what the watch read: the reconcile's `judgeManaged`, so only what was read can drift. */
export function judgeWatched(entry: LedgerView, state: WatchedState, config: DecisionConfig): Verdict {
  if (!entry.managed || !entry.userId || !entry.profile) return judgeManaged(entry, undefined, config);
  return judgeManaged(entry, watchedUser({ ...entry, userId: entry.userId, profile: entry.profile }, state) ?? undefined, config);
}

/** The fight cap: at most `repairs` repairs of one user within `windowMinutes`; beyond, the drift is reported only. */
export interface FightCap {
  repairs: number;
  windowMinutes: number;
}

/**
 * Whether one more repair of a user may go, given the times (epoch ms) of its earlier repairs: past the cap, two
 * writers are fighting over it and repairing again would only feed the fight. Returns the times to keep.
 */
export function fightCheck(earlier: readonly number[], now: number, cap: FightCap): { repair: boolean; history: number[] } {
  const recent = earlier.filter((t) => t > now - cap.windowMinutes * 60_000).sort((a, b) => a - b);
  if (recent.length >= cap.repairs) return { repair: false, history: recent };
  return { repair: true, history: [...recent, now] };
}

/** What the watch did about one user (counted, and shown by `auth0-sync status`). */
export const WATCH_ACTIONS = ["repaired", "reported", "fight", "in-sync", "unmanaged", "left-alone", "ambiguous", "redelivered", "failed"] as const;
export type WatchAction = (typeof WATCH_ACTIONS)[number];
