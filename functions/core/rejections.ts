/**
 * The rejection a permanent failure makes of a user: which field of the row it names. A failure that knows its
 * field (an unknown organization's column, a member role's) names it; otherwise a role names the roles column, a
 * membership the organizations column, and anything else Auth0 refused names "auth0".
 */
import type { SyncConfig } from "./config.js";
import type { RejectCode, Rejection } from "./types.js";

/** What a permanent failure is about. */
export type FailureSubject = "role" | "organization" | "user";

export interface PermanentFailure {
  code: RejectCode;
  subject: FailureSubject;
  /** The row's field the failure names itself, when it knows it. */
  field?: string;
  /** Auth0's reason (emails redacted), or the failure's own. */
  reason: string;
}

export function rejectionFor(f: PermanentFailure, at: { row?: number; keyLabel: string }, config: Pick<SyncConfig, "roles" | "organizations">): Rejection {
  const field = f.field ?? (f.subject === "role" ? (config.roles?.column ?? "roles") : f.subject === "organization" ? (config.organizations?.column ?? "organizations") : "auth0");
  return { code: f.code, field, reason: f.reason, row: at.row, keyLabel: at.keyLabel };
}
