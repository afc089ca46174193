/**
 * Reads the configured SQL through the Redshift Data API: ExecuteStatement, DescribeStatement polled with backoff,
 * then GetStatementResult page by page as an async iterator, so the whole result is never in memory.
 */
import {
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
  type GetStatementResultCommandOutput,
  type ColumnMetadata,
  type Field,
  type RedshiftDataClient,
} from "@aws-sdk/client-redshift-data";
import { SyncError } from "../../core/errors.js";
import { DATA_API_RESULT_LIMIT_BYTES, resultTooLargeMessage, type ExtractMode } from "../../core/extract-config.js";
import type { Page, RowSource } from "../../core/source.js";
import type { Row, RowValue } from "../../core/types.js";
import { setTimeout as sleep } from "node:timers/promises";

export interface RedshiftSourceSettings {
  workgroupName?: string;
  clusterIdentifier?: string;
  database: string;
  secretArn?: string;
  sql: string;
  parameters?: Record<string, string>;
  /** The config's extract mode, named in the sentence a result over the Data API's limit ends with. */
  extract?: ExtractMode;
}

export interface PollSettings {
  /** First wait between DescribeStatement calls; doubles up to maxMs. */
  minMs: number;
  maxMs: number;
  /** Give up (and cancel nothing: the statement ends on its own) after this long. */
  timeoutMs: number;
}

export class RedshiftStatementError extends SyncError {
  override readonly name = "RedshiftStatementError";
  readonly retryable: boolean;
  constructor(
    message: string,
    readonly statementId: string | undefined,
    readonly status: string | undefined,
    opts: { retryable: boolean },
  ) {
    super(message);
    this.retryable = opts.retryable;
  }
}

/**
 * The result is over the Data API's 500 MB limit: seen in DescribeStatement's ResultSize before any page is read,
 * or as the Data API's own refusal ("Database response exceeded size limit") of GetStatementResult. One sentence
 * that says what to configure; never retried (the same statement fails the same way).
 */
export class ResultTooLargeError extends SyncError {
  override readonly name = "ResultTooLargeError";
  readonly retryable = false;
  constructor(
    extract: ExtractMode,
    readonly resultBytes: number | undefined,
    readonly rows: number | undefined,
    readonly statementId: string,
  ) {
    super(resultTooLargeMessage(extract, resultBytes, rows));
  }
}

/** The Data API's refusal of a result over its size limit, in any of the operations that can meet it. */
const SIZE_LIMIT_REFUSAL = /response exceeded (the )?size limit|result (set )?(size )?exceeds?/i;

export type { Page };

/** A statement as a state machine polls it (RedshiftSource.describe). */
export interface StatementState {
  Status: string;
  ResultSize: number;
  ResultRows: number;
  Error: string;
  TooLarge: boolean;
}

/** One Field union -> a value. Decimals and timestamps arrive as strings and stay strings. */
export function fieldValue(f: Field): RowValue {
  if (f.isNull) return null;
  if (f.stringValue !== undefined) return f.stringValue;
  if (f.longValue !== undefined) return f.longValue;
  if (f.doubleValue !== undefined) return f.doubleValue;
  if (f.booleanValue !== undefined) return f.booleanValue;
  if (f.blobValue !== undefined) return f.blobValue;
  return null;
}

export function toRows(columns: string[], records: Field[][]): Row[] {
  return records.map((rec) => {
    const row: Row = {};
    rec.forEach((f, i) => {
      row[columns[i] ?? `column_${i + 1}`] = fieldValue(f);
    });
    return row;
  });
}


/** The Redshift Data API as the extractor's row source. */
export class RedshiftSource implements RowSource {
  private readonly poll: PollSettings;
  /** The statement's row count, known once `run` has waited for it (before the first page). */
  resultRows?: number;
  /** The statement's result size in bytes (DescribeStatement's ResultSize), known with resultRows. */
  resultBytes?: number;

  constructor(
    private readonly client: RedshiftDataClient,
    private readonly settings: RedshiftSourceSettings,
    poll: Partial<PollSettings> = {},
  ) {
    this.poll = { minMs: 250, maxMs: 5_000, timeoutMs: 15 * 60_000, ...poll };
  }

  /** Starts the statement; returns its id. */
  async execute(): Promise<string> {
    const s = this.settings;
    const out = await this.client.send(
      new ExecuteStatementCommand({
        Sql: s.sql,
        Database: s.database,
        WorkgroupName: s.workgroupName,
        ClusterIdentifier: s.clusterIdentifier,
        SecretArn: s.secretArn,
        Parameters: s.parameters ? Object.entries(s.parameters).map(([name, value]) => ({ name, value })) : undefined,
        StatementName: "auth0-sync-extract",
      }),
    );
    if (!out.Id) throw new RedshiftStatementError("ExecuteStatement returned no statement id", undefined, undefined, { retryable: true });
    return out.Id;
  }

  /**
   * One DescribeStatement, every field present (a state machine's Choice reads them): ResultSize -1 while unknown,
   * Error "" without one, TooLarge when the Data API refused the result as over its limit.
   */
  async describe(id: string): Promise<StatementState> {
    const d = await this.client.send(new DescribeStatementCommand({ Id: id }));
    const error = d.Error ?? "";
    return { Status: d.Status ?? "SUBMITTED", ResultSize: d.ResultSize ?? -1, ResultRows: d.ResultRows ?? -1, Error: error, TooLarge: d.Status === "FAILED" && SIZE_LIMIT_REFUSAL.test(error) };
  }

  /** Polls until FINISHED; FAILED and ABORTED become an error carrying Redshift's message. */
  async waitFor(id: string): Promise<{ rows: number; bytes?: number; hasResultSet: boolean }> {
    const started = Date.now();
    let wait = this.poll.minMs;
    for (;;) {
      const d = await this.client.send(new DescribeStatementCommand({ Id: id }));
      if (d.Status === "FINISHED") return { rows: d.ResultRows ?? 0, bytes: d.ResultSize !== undefined && d.ResultSize >= 0 ? d.ResultSize : undefined, hasResultSet: d.HasResultSet ?? false };
      if (d.Status === "FAILED" && SIZE_LIMIT_REFUSAL.test(d.Error ?? "")) throw this.tooLarge(id);
      if (d.Status === "FAILED" || d.Status === "ABORTED") {
        throw new RedshiftStatementError(`Redshift statement ${id} ${d.Status}: ${d.Error ?? "no message"}`, id, d.Status, {
          retryable: d.Status === "ABORTED",
        });
      }
      if (Date.now() - started > this.poll.timeoutMs) {
        throw new RedshiftStatementError(`Redshift statement ${id} still ${d.Status} after ${this.poll.timeoutMs} ms`, id, d.Status, { retryable: true });
      }
      await sleep(wait);
      wait = Math.min(this.poll.maxMs, wait * 2);
    }
  }

  /**
   * The result, one page at a time. The next page is requested as soon as one is handed over, so the
   * warehouse's answer and the caller's work on the previous page overlap (at most two pages in memory).
   */
  async *statementPages(id: string): AsyncGenerator<Page> {
    let columns: string[] | undefined;
    const fetchPage = (token: string | undefined): Promise<GetStatementResultCommandOutput> => {
      const p = Promise.resolve(this.client.send(new GetStatementResultCommand({ Id: id, NextToken: token })));
      // Awaited below; this only keeps an abandoned prefetch (the caller stopped early) from going unhandled.
      p.catch(() => undefined);
      return p;
    };
    let next: Promise<GetStatementResultCommandOutput> | undefined = fetchPage(undefined);
    while (next) {
      const res: GetStatementResultCommandOutput = await next.catch((err: unknown) => {
        throw err instanceof Error && SIZE_LIMIT_REFUSAL.test(err.message) ? this.tooLarge(id) : err;
      });
      next = res.NextToken ? fetchPage(res.NextToken) : undefined;
      columns ??= (res.ColumnMetadata ?? []).map((c: ColumnMetadata, i) => c.label || c.name || `column_${i + 1}`);
      yield { columns, rows: toRows(columns, res.Records ?? []) };
    }
  }

  /** Execute, wait, and stream the pages. */
  async *run(): AsyncGenerator<Page> {
    yield* this.resultOf(await this.execute());
  }

  /**
   * A statement executed elsewhere (a measured run's query, which the state machine ran and waited for) as this
   * source's result: the same checks and pages as a statement this source executed.
   */
  ofStatement(id: string): RowSource {
    return new StatementResult(this, id);
  }

  /** Wait for the statement (at once when it has finished), check its result, stream its pages. */
  async *resultOf(id: string): AsyncGenerator<Page> {
    const { rows, bytes, hasResultSet } = await this.waitFor(id);
    this.resultRows = rows;
    this.resultBytes = bytes;
    if (bytes !== undefined && bytes > DATA_API_RESULT_LIMIT_BYTES) throw this.tooLarge(id);
    if (!hasResultSet) throw new RedshiftStatementError(`Redshift statement ${id} returned no result set; the config's SQL must be a SELECT`, id, "FINISHED", { retryable: false });
    yield* this.statementPages(id);
  }

  private tooLarge(id: string): ResultTooLargeError {
    return new ResultTooLargeError(this.settings.extract ?? "auto", this.resultBytes, this.resultRows, id);
  }

  /** The port's pages (core/source.ts): execute, wait, and stream. */
  pages(): AsyncIterable<Page> {
    return this.run();
  }
}

/** One executed statement's result, read through its RedshiftSource (`RedshiftSource.ofStatement`). */
class StatementResult implements RowSource {
  constructor(
    private readonly source: RedshiftSource,
    private readonly id: string,
  ) {}

  pages(): AsyncIterable<Page> {
    return this.source.resultOf(this.id);
  }

  get resultRows(): number | undefined {
    return this.source.resultRows;
  }
}
