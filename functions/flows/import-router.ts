/**
 * Which of a run's operations go through Auth0 import jobs (docs/imports.md): new users (keys the ledger has never
 * seen) once the run has found at least `create.bulkMinUsers` of them (core/import-batches.ts bulkPolicy). Until
 * then they are held here, at most that many; a run that never reaches the threshold hands them back to the
 * per-user path at its end. Once it has, they are packed into import files (<= 400 KB of Auth0's JSON), each user
 * with an id the sync chooses at random (nothing of the person in it), and sent to the import queue. A run whose
 * rows left cannot bring it to the threshold stops holding (a small table never waits for its end). Everything
 * else (updates, blocks, deletes, users Auth0's import schema cannot carry) goes the per-user way as before. A dry
 * run (the plan) hands the files to a callback instead.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { SyncConfig } from "../core/config.js";
import { bulkPolicy, ImportPacker, notImportable, type ImportEntry } from "../core/import-batches.js";
import type { SyncOperation } from "../core/operations.js";
import type { RunAccounting } from "../core/outcomes.js";
import { encodeImportBatch } from "../adapters/sqs/import-message.js";
import type { QueueSender } from "../adapters/sqs/sender.js";

export type ImportOut = { sender: QueueSender } | { dryRun: (users: ImportEntry[]) => void | Promise<void> };

/** A random id for an imported user: 24 hex characters, as Auth0's own ids (Auth0 adds `auth0|`). */
const newUserId = (): string => randomBytes(12).toString("hex");

export class ImportRouter {
  private held: SyncOperation[] = [];
  private engaged: boolean;
  /** Too few rows are left to reach the threshold: every new user goes the per-user way. */
  private declined = false;
  private readonly packer = new ImportPacker();
  private seq = 0;
  private readonly batchPrefix: string;
  /** Users sent to import jobs, and the files (batches) they went in. */
  users = 0;
  batches = 0;

  constructor(
    private readonly runId: string,
    private readonly minUsers: number,
    private readonly accounting: RunAccounting,
    private readonly out: ImportOut,
  ) {
    this.engaged = minUsers <= 1;
    // Unique per extract (a segment retried packs its users into batches of new ids, never an earlier batch's).
    this.batchPrefix = `${runId}-${randomUUID().slice(0, 8)}`;
  }

  /** The router for this config, or undefined when the run creates one by one (core's policy, or no import queue). */
  static for(config: SyncConfig, runId: string, accounting: RunAccounting, out: ImportOut | undefined): ImportRouter | undefined {
    const policy = bulkPolicy(config);
    return policy.kind === "bulk" && out ? new ImportRouter(runId, policy.minUsers, accounting, out) : undefined;
  }

  /**
   * Of a page's operations, those for the per-user path; new users are kept for import files. `rowsLeft` (the rows
   * the extract has still to read, when the source knows its size) lets a run that can no longer reach the
   * threshold give its new users to the per-user path at once, instead of holding them to its end.
   */
  async route(ops: SyncOperation[], isNew: (op: SyncOperation) => boolean, rowsLeft?: number): Promise<SyncOperation[]> {
    const perUser: SyncOperation[] = [];
    for (const op of ops) {
      if (this.declined || !isNew(op) || notImportable(op.desired) !== undefined) perUser.push(op);
      else if (this.engaged) await this.pack(op);
      else this.held.push(op);
    }
    if (!this.engaged && this.held.length >= this.minUsers) {
      this.engaged = true;
      const held = this.held;
      this.held = [];
      for (const op of held) await this.pack(op);
    } else if (!this.engaged && rowsLeft !== undefined && this.held.length + rowsLeft < this.minUsers) {
      this.declined = true;
      perUser.push(...this.held);
      this.held = [];
    }
    return perUser;
  }

  /** The end of the extract: the last file is sent; new users held under the threshold go the per-user way. */
  async finish(): Promise<SyncOperation[]> {
    const last = this.packer.end();
    if (last) await this.send(last);
    const held = this.held;
    this.held = [];
    return held;
  }

  private async pack(op: SyncOperation): Promise<void> {
    const full = this.packer.add({ id: newUserId(), op });
    if (full) await this.send(full);
  }

  private async send(users: ImportEntry[]): Promise<void> {
    if ("dryRun" in this.out) {
      await this.out.dryRun(users);
      this.batches++;
    } else {
      // (A batch too large for one SQS message travels as two halves, each a batch of its own.)
      const bodies = encodeImportBatch({ runId: this.runId, batchId: `${this.batchPrefix}-${this.seq++}`, users });
      await this.out.sender.send(bodies);
      this.batches += bodies.length;
    }
    this.users += users.length;
    // In flight until the importer (or the per-user path it hands a user to) settles each one.
    this.accounting.dispatch(users.length);
  }
}
