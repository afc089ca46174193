/**
 * The watch's items in the ledger: which identity key an Auth0 user id is (the sparse users index), each watched
 * user's memory (`W#<identity key>`: its recent repairs, the fight cap's history, and the log ids already judged; by
 * key, so a user deleted and created again keeps it), and the watch's record for `status`
 * (`WATCH#last`: counts since deployment, the latest notes). Which repairs may go is the core's (core/watch.ts).
 */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { IDENTITY_PREFIX, USERS_INDEX } from "../../core/ledger-keys.js";
import type { WatchNote, WatchRecord } from "../../core/records.js";
import { ITEM, type LedgerTable } from "./table.js";

/** Notes kept for `status`. */
const RECENT_NOTES = 50;
/** A watched user's memory outlives its last use by a day, then DynamoDB's TTL drops it (`expiresAt`, the watch's table setting). */
const HISTORY_TTL_SECONDS = 86_400;

export class WatchLedger {
  constructor(private readonly t: LedgerTable) {}

  /** The identity keys whose entries name this Auth0 user (normally one; a stale seed may add another). */
  async keysOf(userId: string): Promise<string[]> {
    this.t.stats.requests++;
    const res = await this.t.doc.send(
      new QueryCommand({
        TableName: this.t.tableName,
        IndexName: USERS_INDEX.name,
        KeyConditionExpression: "#u = :u",
        ExpressionAttributeNames: { "#u": USERS_INDEX.partitionKey },
        ExpressionAttributeValues: { ":u": userId },
      }),
    );
    return (res.Items ?? []).map((i) => String(i.pk)).filter((pk) => pk.startsWith(IDENTITY_PREFIX)).map((pk) => pk.slice(IDENTITY_PREFIX.length));
  }

  /** A watched user's memory, by identity key: the times (epoch ms) of its recent repairs, and the log ids already judged. */
  async userState(key: string): Promise<{ repairs: number[]; logIds: string[] }> {
    this.t.stats.requests++;
    const res = await this.t.doc.send(new GetCommand({ TableName: this.t.tableName, Key: { pk: ITEM.watchUser + key }, ProjectionExpression: "repairs, logIds" }));
    const r: unknown = res.Item?.repairs;
    const l: unknown = res.Item?.logIds;
    return {
      repairs: Array.isArray(r) ? r.filter((x): x is number => typeof x === "number") : [],
      logIds: Array.isArray(l) ? l.filter((x): x is string => typeof x === "string") : [],
    };
  }

  async setUserState(key: string, state: { repairs: number[]; logIds: string[] }): Promise<void> {
    this.t.stats.writes++;
    const last = Math.max(Date.now(), ...state.repairs);
    await this.t.doc.send(new PutCommand({ TableName: this.t.tableName, Item: { pk: ITEM.watchUser + key, ...state, expiresAt: Math.ceil(last / 1000) + HISTORY_TTL_SECONDS } }));
  }

  /** Adds a batch's counts (atomic ADDs) and notes (newest first, the latest kept; two batches at once may lose a note, never a count). */
  async record(counts: Record<string, number>, notes: WatchNote[], lastEventAt: string): Promise<void> {
    const previous = await this.get();
    const recent = [...notes].reverse().concat(previous?.recent ?? []).slice(0, RECENT_NOTES);
    const entries = Object.entries(counts).filter(([, n]) => n > 0);
    this.t.stats.writes++;
    await this.t.doc.send(
      new UpdateCommand({
        TableName: this.t.tableName,
        Key: { pk: ITEM.watchLast },
        UpdateExpression: `SET recent = :recent, lastEventAt = :at${entries.length > 0 ? ` ADD ${entries.map((_, i) => `#c${i} :c${i}`).join(", ")}` : ""}`,
        ExpressionAttributeNames: entries.length > 0 ? Object.fromEntries(entries.map(([k], i) => [`#c${i}`, `count_${k}`])) : undefined,
        ExpressionAttributeValues: { ":recent": JSON.stringify(recent), ":at": lastEventAt, ...Object.fromEntries(entries.map(([, n], i) => [`:c${i}`, n])) },
      }),
    );
  }

  async get(): Promise<WatchRecord | undefined> {
    this.t.stats.reads++;
    const res = await this.t.doc.send(new GetCommand({ TableName: this.t.tableName, Key: { pk: ITEM.watchLast } }));
    const item = res.Item;
    if (!item) return undefined;
    const counts = Object.fromEntries(Object.entries(item).filter(([k, v]) => k.startsWith("count_") && typeof v === "number").map(([k, v]) => [k.slice("count_".length), v as number]));
    const recent = typeof item.recent === "string" ? (JSON.parse(item.recent) as WatchNote[]) : [];
    return { counts, lastEventAt: typeof item.lastEventAt === "string" ? item.lastEventAt : undefined, recent };
  }
}
