import { ManagementError, ManagementTimeoutError } from "auth0";
import type { RejectCode } from "../../core/types.js";
import { EMAILS_IN_TEXT } from "../../core/emails.js";
import { SyncError } from "../../core/errors.js";

export type Auth0ErrorKind = "rate_limited" | "server" | "timeout" | "network" | "auth" | "rejected" | "not_found" | "conflict" | "ambiguous" | "unknown_role" | "unknown_organization";

/** A Management API failure, classified: retryable ones fail the SQS record; permanent ones reject the row. */
export class Auth0Error extends SyncError {
  override readonly name: string = "Auth0Error";
  readonly retryable: boolean;
  readonly kind: Auth0ErrorKind;
  readonly statusCode?: number;
  readonly errorCode?: string;
  /** Auth0's own message, with anything that looks like an email address redacted. */
  readonly auth0Message?: string;
  /**
   * A 409 answered to the retry of a write whose earlier attempt got no clear answer (5xx, timeout): the
   * earlier attempt may have landed, so the existing resource may be this very write's.
   */
  readonly earlierAttemptUnanswered: boolean;
  /** The row's field a permanent failure is about, when the failure knows it (an unknown organization's column). */
  readonly field?: string;

  constructor(
    message: string,
    opts: {
      kind: Auth0ErrorKind;
      retryable: boolean;
      statusCode?: number;
      errorCode?: string;
      auth0Message?: string;
      earlierAttemptUnanswered?: boolean;
      field?: string;
      cause?: unknown;
    },
  ) {
    super(message, { cause: opts.cause });
    this.kind = opts.kind;
    this.retryable = opts.retryable;
    this.statusCode = opts.statusCode;
    this.errorCode = opts.errorCode;
    this.auth0Message = opts.auth0Message;
    this.earlierAttemptUnanswered = opts.earlierAttemptUnanswered ?? false;
    this.field = opts.field;
  }

  /** The rejection code a permanent failure records. */
  get rejectCode(): RejectCode {
    if (this.kind === "not_found") return "user_not_found";
    if (this.kind === "ambiguous") return "ambiguous_user";
    if (this.kind === "unknown_role") return "unknown_role";
    if (this.kind === "unknown_organization") return "unknown_organization";
    return "auth0_rejected";
  }
}

/** The header the paced fetch adds to a 409 that followed an unanswered attempt of the same write. */
export const EARLIER_ATTEMPT_UNANSWERED = "x-auth0-sync-earlier-attempt-unanswered";

/** Auth0 echoes invalid values (emails among them) in its messages; they must never reach a log. */
export function redact(message: string): string {
  return message.replace(EMAILS_IN_TEXT, "<email>");
}

function bodyField(body: unknown, field: string): string | undefined {
  if (body && typeof body === "object" && field in body) {
    const v = (body as Record<string, unknown>)[field];
    return typeof v === "string" ? v : undefined;
  }
  return undefined;
}

/** Turns whatever the SDK threw into an Auth0Error that says whether retrying can help. */
export function classifyError(err: unknown, operation: string): Auth0Error {
  if (err instanceof Auth0Error) return err;
  if (err instanceof ManagementTimeoutError) {
    return new Auth0Error(`${operation}: Auth0 did not answer in time`, { kind: "timeout", retryable: true, cause: err });
  }
  if (err instanceof ManagementError) {
    const status = err.statusCode;
    const auth0Message = redact(bodyField(err.body, "message") ?? bodyField(err.body, "error_description") ?? err.message);
    const errorCode = bodyField(err.body, "errorCode") ?? bodyField(err.body, "error");
    const base = { statusCode: status, errorCode, auth0Message, cause: err };
    if (status === undefined) {
      return new Auth0Error(`${operation}: network error: ${redact(err.message)}`, { kind: "network", retryable: true, ...base });
    }
    const msg = `${operation}: Auth0 answered ${status}: ${auth0Message}`;
    if (status === 429) return new Auth0Error(msg, { kind: "rate_limited", retryable: true, ...base });
    if (status >= 500 || status === 408) return new Auth0Error(msg, { kind: "server", retryable: true, ...base });
    // Credentials or scopes are wrong: no row is at fault, so keep the rows (retry, then DLQ and an alarm).
    if (status === 401 || status === 403) return new Auth0Error(msg, { kind: "auth", retryable: true, ...base });
    if (status === 404) return new Auth0Error(msg, { kind: "not_found", retryable: false, ...base });
    if (status === 409) {
      const earlierAttemptUnanswered = err.rawResponse?.headers.get(EARLIER_ATTEMPT_UNANSWERED) === "1";
      return new Auth0Error(msg, { kind: "conflict", retryable: false, earlierAttemptUnanswered, ...base });
    }
    return new Auth0Error(msg, { kind: "rejected", retryable: false, ...base });
  }
  const e = err as Error;
  return new Auth0Error(`${operation}: ${redact(e?.message ?? String(err))}`, { kind: "network", retryable: true, cause: err });
}

/**
 * One Management API call of an Auth0 adapter: its result, or whatever it threw as an Auth0Error (classifyError)
 * whose message begins with `operation`. An adapter's own translation (an unknown organization) goes on top of it.
 */
export async function callAuth0<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classifyError(err, operation);
  }
}
