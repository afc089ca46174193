/**
 * One import batch through an Auth0 import job (docs/imports.md): the users whose roles and organizations exist
 * are submitted as one file, the job followed (polled with backoff, in the "other" bucket), its errors read, and
 * each user's outcome recorded: the imported ones through the user flow with their known ids (what is left is
 * their roles and memberships, grouped as a consumer groups them: record-flow.ts), a FORMAT error rejected with
 * its row and field, and any other user (an existing email, a failed job, a role or organization that does not
 * exist) sent to the main queue, where the per-user path makes it match (409 -> lookup -> patch) or rejects it.
 *
 * The ledger's record of the batch (adapters/ledger/imports.ts) makes a delivery again (a killed or timed-out
 * importer) follow the job already submitted, and never submit its users twice: a batch claimed but with no job id
 * recorded may or may not have reached Auth0, so its users go the per-user way. Users a job may have created when
 * they are handed on (that batch's, a failed job's) are recorded as a create sent for their key, so the per-user
 * path that finds one counts it created (decide.ts), as it counts its own unanswered create. A submit Auth0 refuses
 * because two import jobs are active waits in the invocation for one to end.
 */
import { IMPORTER_TIMEOUT_SECONDS, importUserOf, importVerdicts, type ImportEntry, type ImportVerdict } from "../core/import-batches.js";
import { opKey, type UserOperation } from "../core/operations.js";
import { Auth0Error } from "../adapters/auth0/errors.js";
import { ActiveImportJobsError, type Auth0Imports, type ImportJobView } from "../adapters/auth0/imports.js";
import type { ImportBatchMessage } from "../adapters/sqs/import-message.js";
import { packMessages, type QueueSender } from "../adapters/sqs/sender.js";
import { resolveOrganizations } from "./memberships.js";
import { RetryableRecordError, consumeOperations, type ConsumerDeps, type ImportedVerdict, type RecordTally } from "./record-flow.js";
import { WriteGroups } from "./write-groups.js";

export interface ImporterDeps extends ConsumerDeps {
  imports: Pick<Auth0Imports, "prepare" | "submit" | "job" | "errors">;
  /** The main queue: users the import cannot create go the per-user way through it. */
  perUser: QueueSender;
  /** First and longest wait between polls of a job (default 1 s and 10 s). */
  pollMs?: { first: number; max: number };
}

export interface ImportTally extends RecordTally {
  /** Jobs this delivery submitted (0 when it followed one submitted earlier). */
  jobs: number;
  /** Users the job created. */
  imported: number;
  /** Users handed to the per-user path. */
  perUser: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How often a deployed importer asks after its job: from 1 s, doubling to 10 s (the "other" bucket is shared). */
export const IMPORT_POLL_MS = { first: 1000, max: 10_000 };

export async function importBatch(deps: ImporterDeps, msg: ImportBatchMessage, remainingMs: () => number): Promise<ImportTally> {
  const { logger } = deps;
  const ledger = deps.ledger;
  if (!ledger) throw new Error("an import batch needs the ledger (it records the batch's job)");
  const { runId, batchId } = msg;
  const tally: ImportTally = { outcomes: {}, repeats: 0, jobs: 0, imported: 0, perUser: 0 };
  const record = await ledger.imports.get(batchId);
  if (record?.state === "done") {
    logger.info("import batch already done", { runId, batchId });
    return tally;
  }

  let jobId = record?.jobId;
  let submitted: ImportEntry[];
  let perUser: ImportEntry[] = [];
  /** Users a job may have created before they were handed on (the per-user path counts them created). */
  let mayExist: ImportEntry[] = [];
  if (!record) {
    ({ ready: submitted, perUser } = await preflight(deps, msg.users));
    // What can fail before anything is sent (the connection's id), before the batch is claimed.
    if (submitted.length > 0) await deps.imports.prepare();
    const { first, max } = deps.pollMs ?? IMPORT_POLL_MS;
    for (let wait = first; ; wait = Math.min(max, wait * 2)) {
      if (!(await ledger.imports.begin(batchId, runId, submitted.map((u) => u.id)))) throw new RetryableRecordError(`import batch ${batchId}: another delivery is submitting it`);
      if (submitted.length === 0) break;
      try {
        jobId = await deps.imports.submit(
          submitted.map((u) => importUserOf(u.op.desired, u.id)),
          batchId,
        );
        break;
      } catch (err) {
        // Not created: two jobs run already (tried again once one may have ended), or Auth0 refused the file
        // (each user alone).
        if (err instanceof ActiveImportJobsError) {
          await ledger.imports.release(batchId);
          // Another client's jobs (or this sync's, followed by another delivery) may run for a while: waited for
          // here while the Lambda has time, rather than failing the record, which SQS would deliver again only
          // after its visibility timeout and dead-letter after maxReceiveCount refusals.
          if (remainingMs() < (deps.safetyMs ?? 10_000) + wait) throw new RetryableRecordError(`import batch ${batchId}: ${err.message}`, { cause: err });
          logger.info("two import jobs are active; the batch waits for one to end", { runId, batchId, waitMs: wait });
          await sleep(wait);
          continue;
        }
        // No token: the request was never sent, the batch may be submitted again.
        if (err instanceof Auth0Error && err.kind === "auth") await ledger.imports.release(batchId);
        if (!(err instanceof Auth0Error) || err.retryable) throw err;
        logger.warn("import job refused; its users go the per-user way", { runId, batchId, error: err.message });
        perUser = msg.users;
        submitted = [];
        break;
      }
    }
    if (jobId) {
      await ledger.imports.submitted(batchId, jobId);
      await ledger.runs.addImports(runId, { jobs: 1, users: 0 });
      tally.jobs = 1;
      logger.info("import job submitted", { runId, batchId, jobId, users: submitted.length });
    }
  } else {
    const ids = new Set(record.userIds ?? []);
    submitted = msg.users.filter((u) => ids.has(u.id));
    perUser = msg.users.filter((u) => !ids.has(u.id));
    if (!jobId && submitted.length > 0 && record.state === "submitting" && claimedWithin(record.submittedAt, IMPORTER_TIMEOUT_SECONDS * 1000)) {
      // Claimed less than an importer's lifetime ago: another delivery of the batch may still be submitting it.
      throw new RetryableRecordError(`import batch ${batchId}: another delivery claimed it ${record.submittedAt ?? ""} and may still be submitting it`);
    }
    if (!jobId && submitted.length > 0) {
      // Claimed, but no job id recorded: the job may exist. The per-user path finds what it created (a lookup).
      logger.warn("import batch was being submitted when its delivery stopped; its users go the per-user way", { runId, batchId });
      mayExist = submitted;
      perUser = msg.users;
      submitted = [];
    }
  }

  const verdicts = new Map<UserOperation, ImportedVerdict>();
  if (jobId && submitted.length > 0) {
    const job = await follow(deps, jobId, remainingMs);
    const judged = await judge(deps, job, submitted);
    // No verdict at all (a failed job, errors not all listed): the job may have created any of its users.
    if (judged.size === 0) mayExist = submitted;
    for (const u of submitted) {
      const v = judged.get(u.id);
      if (v?.kind === "imported") verdicts.set(u.op, { imported: v.userId });
      else if (v?.kind === "rejected") verdicts.set(u.op, { rejected: v.rejection });
      else perUser.push(u);
    }
  }
  tally.imported = [...verdicts.values()].filter((v) => "imported" in v).length;
  tally.perUser = perUser.length;
  // Recorded as a create sent for the key (as a consumer records its own unanswered create), so the per-user path
  // that finds such a user by email counts it created, not adopted: on an empty tenant a failed job still ends
  // with every row created.
  await createsAttempted(deps, runId, mayExist);
  if (perUser.length > 0) {
    await deps.perUser.send(packMessages(runId, perUser.map((u) => u.op), deps.config.queue.usersPerMessage).map((b) => b.body));
    logger.info("import users handed to the per-user path", { runId, batchId, users: perUser.length });
  }
  if (verdicts.size > 0) {
    // Their roles and memberships, grouped across the batch (write-groups.ts), and each outcome recorded.
    const groups = new WriteGroups(deps.auth0, 1, { timeLeftMs: remainingMs, safetyMs: deps.safetyMs });
    const ops = [...verdicts.keys()];
    const recorded = await consumeOperations({ ...deps, groups, parallelism: Math.max(deps.parallelism ?? 4, 32) }, runId, ops, remainingMs, (n) => groups.opened(n), verdicts);
    tally.outcomes = recorded.outcomes;
    tally.repeats = recorded.repeats;
  }
  // Counted once: a delivery that finds the batch done already (it stopped after this) adds nothing.
  if (await ledger.imports.done(batchId)) await ledger.runs.addImports(runId, { jobs: 0, users: tally.imported });
  return tally;
}

/** Whether a claim is younger than `ms` (an unreadable time counts as old). */
function claimedWithin(at: string | undefined, ms: number): boolean {
  const t = at ? Date.parse(at) : Number.NaN;
  return Number.isFinite(t) && Date.now() - t < ms;
}

/**
 * The users that may be imported: their roles and organizations exist (names resolved once, cached). Any other
 * goes the per-user way, which rejects it before anything is written, as it does for every row.
 */
async function preflight(deps: ImporterDeps, users: ImportEntry[]): Promise<{ ready: ImportEntry[]; perUser: ImportEntry[] }> {
  const { config, auth0 } = deps;
  const ready: ImportEntry[] = [];
  const perUser: ImportEntry[] = [];
  for (const u of users) {
    try {
      if (config.roles && u.op.desired.roles && u.op.desired.roles.length > 0) await auth0.roleIds(u.op.desired.roles);
      if (config.organizations && u.op.desired.organizations) await resolveOrganizations(auth0, config.organizations, u.op.desired.organizations);
      ready.push(u);
    } catch (err) {
      if (err instanceof Auth0Error && !err.retryable) perUser.push(u);
      else throw err;
    }
  }
  return { ready, perUser };
}

/**
 * Records for each user that a create was sent for its key (the ledger's createAttemptedAt), before the user is
 * handed to the per-user path. A failure to record is retryable: the batch is delivered again and goes on from its
 * record.
 */
async function createsAttempted(deps: ImporterDeps, runId: string, users: ImportEntry[]): Promise<void> {
  const ledger = deps.ledger;
  if (!ledger || users.length === 0) return;
  const queue = [...users];
  const worker = async () => {
    for (let u = queue.shift(); u; u = queue.shift()) {
      await ledger.users.recordFailure(opKey(u.op), `import batch of run ${runId}: its job may have created the user`, { createAttempted: true });
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, users.length) }, worker));
}

/** Polls the job until it ends; with too little Lambda time left, the delivery fails and the next one follows on. */
async function follow(deps: ImporterDeps, jobId: string, remainingMs: () => number): Promise<ImportJobView> {
  const { first, max } = deps.pollMs ?? IMPORT_POLL_MS;
  const safety = deps.safetyMs ?? 10_000;
  for (let wait = first; ; wait = Math.min(max, wait * 2)) {
    const job = await deps.imports.job(jobId);
    if (job.status === "completed" || job.status === "failed") return job;
    if (remainingMs() < safety + wait) throw new RetryableRecordError(`import job ${jobId} is still ${job.status}; the next delivery follows it`);
    await sleep(wait);
  }
}

/**
 * Each submitted user's verdict. A failed job, or errors Auth0 no longer lists all of (a job's data is kept 24 h),
 * leave every user to the per-user path, which finds those the job did create.
 */
async function judge(deps: ImporterDeps, job: ImportJobView, submitted: ImportEntry[]): Promise<Map<string, ImportVerdict>> {
  if (job.status === "failed") {
    deps.logger.warn("import job failed; its users go the per-user way", { jobId: job.id, details: job.details });
    return new Map();
  }
  const failed = job.summary?.failed ?? 0;
  const errors = failed > 0 ? await deps.imports.errors(job.id) : [];
  if (errors.length < failed) {
    deps.logger.warn("import job's errors are not all listed; its users go the per-user way", { jobId: job.id, failed, listed: errors.length });
    return new Map();
  }
  return importVerdicts(submitted, errors);
}
