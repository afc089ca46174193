/**
 * The one place a config's source becomes its RowSource (core/source.ts): the Redshift Data API, or another Auth0
 * tenant read through an export and pseudonymised (a tenant copy). The extractor, the CLI's plan and the local
 * runner open their source here, so they cannot read different things.
 */
import type { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import type { SyncConfig } from "../core/config.js";
import { transformOf } from "../core/config.js";
import { SyncError } from "../core/errors.js";
import { Pseudonymiser, type CopiedUser, type SourceUser } from "../core/pseudonymise.js";
import type { RowSource } from "../core/source.js";
import { sameTenantNames } from "../core/tenant-copy-config.js";
import { Auth0Adapter } from "../adapters/auth0/client.js";
import { Pacer } from "../adapters/auth0/pacer.js";
import { PacerSet } from "../adapters/auth0/pacers.js";
import type { SnapshotOptions } from "../adapters/auth0/snapshot.js";
import { Auth0TenantSource, type SourceTenantAccess } from "../adapters/auth0/tenant-source.js";

export type { SourceTenantAccess };
import { RedshiftSource, type PollSettings } from "../adapters/redshift/source.js";


export interface RowSourceWiring {
  /** The Data API client (a Redshift source). */
  redshift: () => RedshiftDataClient;
  redshiftPoll?: Partial<PollSettings>;
  /** The source tenant's access (a tenant copy). */
  sourceTenant: () => Promise<SourceTenantAccess>;
  /** Where the target tenant's requests go (AUTH0_BASE_URL or the config's baseUrl), for the same-tenant guard. */
  targetBaseUrl?: string;
  /** Export polling and download settings of a tenant copy (tests shorten them). */
  snapshot?: Omit<SnapshotOptions, "connection">;
  /** Each source user and what the copy made of it (the plan's masked sample). */
  onSourceUser?: (user: SourceUser, copied: CopiedUser) => void;
}

/** A copy whose target is its source: refused before any call, naming the target and the source as given. */
export class SameTenantError extends SyncError {
  override readonly name = "SameTenantError";
  readonly retryable = false;
  constructor(target: string, source: string) {
    super(`refused: the target tenant (${target}) is the source tenant (${source}); a copy never writes into the tenant it reads`);
  }
}

export async function openRowSource(config: SyncConfig, w: RowSourceWiring): Promise<RowSource> {
  const src = config.source;
  if (src.type === "redshift") return new RedshiftSource(w.redshift(), src, w.redshiftPoll);
  const access = await w.sourceTenant();
  // Every name of each side: where requests go (the environment's URLs win over the config's) and what the config
  // calls it (a bare domain standing for https://<domain>).
  const same = sameTenantNames([access.baseUrl, src.baseUrl, src.domain], [w.targetBaseUrl, config.auth0.baseUrl, config.auth0.domain]);
  if (same) throw new SameTenantError(same.target, same.source);
  const adapter = new Auth0Adapter({
    domain: src.domain,
    baseUrl: access.baseUrl,
    credentials: access.credentials,
    connection: src.connections[0] as string,
    connectionType: "database",
    verifyEmail: false,
    timeoutMs: config.auth0.timeoutMs,
    maxRetries: config.auth0.maxRetries,
    // The source is a production tenant: the copy spends at most its configured rate (the pacer's ceiling) and
    // slows down when the tenant's bucket runs low for its own traffic.
    pacer: PacerSet.single(new Pacer({ rate: src.requestsPerSecond, burst: Math.max(2, Math.ceil(src.requestsPerSecond)) })),
  });
  return new Auth0TenantSource({
    adapter,
    connections: src.connections,
    copyRoles: src.copyRoles,
    pseudonymiser: new Pseudonymiser(transformOf(config)!, access.key, [config.identity.appMetadataKey]),
    snapshot: w.snapshot,
    onUser: w.onSourceUser,
  });
}
