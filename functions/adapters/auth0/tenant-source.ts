/**
 * Another Auth0 tenant as the row source of a tenant copy (core/source.ts, docs/tenant-copy.md): its users come
 * from one users-export job of every connection (streamed, filtered to the configured connections by the name the
 * export gives), with their role names when roles are copied, and each is turned into the row the copy syncs by
 * the core's Pseudonymiser before it leaves this adapter: nothing of a source user that the transform hides is
 * ever in a page, a message, the ledger or a log. It makes the calls; what a user becomes is decided in core.
 *
 * Scopes on the source tenant: read:users (the export, no read:connections needed); with copyRoles also
 * read:roles (GET /roles and GET /roles/{id}/users).
 */
import type { CopiedUser, Pseudonymiser, SourceUser } from "../../core/pseudonymise.js";
import { SOURCE_COLUMNS } from "../../core/tenant-copy-config.js";
import type { Page, RowSource } from "../../core/source.js";
import type { Row } from "../../core/types.js";
import type { Auth0Adapter, Auth0Credentials } from "./client.js";
import { Auth0Error } from "./errors.js";
import { Auth0Snapshot, type SnapshotOptions } from "./snapshot.js";

/** How to reach a copy's source tenant, and the pseudonymisation key (never in the config). */
export interface SourceTenantAccess {
  credentials: Auth0Credentials;
  /** Where requests go (the emulator); `https://{source.domain}` when absent. */
  baseUrl?: string;
  key: string;
}

export interface TenantSourceOptions {
  /** The source tenant's adapter (its own credentials, base URL and pacer). */
  adapter: Auth0Adapter;
  /** The connections whose users are copied, by name. */
  connections: string[];
  /** Read the source users' roles and give each row its role names. */
  copyRoles: boolean;
  /** The core's transform: what each source user becomes. */
  pseudonymiser: Pseudonymiser;
  /** Rows per page handed to the extractor (default 500). */
  pageSize?: number;
  /** Export polling and download settings (tests shorten them). */
  snapshot?: Omit<SnapshotOptions, "connection">;
  /** Called with each user as read and what the copy made of it, before the row is yielded (the plan's masked sample). */
  onUser?: (user: SourceUser, copied: CopiedUser) => void;
}

export class Auth0TenantSource implements RowSource {
  private readonly snapshot: Auth0Snapshot;
  /** Users of the export in other connections, or whose connection the export did not name (not copied). */
  skippedOtherConnections = 0;
  /** Users read from the configured connections. */
  copied = 0;
  /** Names of other connections met (for the error when none is configured: a connection name is not personal). */
  private readonly otherConnections = new Set<string>();

  constructor(private readonly opts: TenantSourceOptions) {
    // Exact integers: the core copies a number exactly, replaces it, or refuses the user; never rounds it.
    // The identities too: a linked account's user_id (google-oauth2|...) is a hidden value like the user's own.
    this.snapshot = new Auth0Snapshot(opts.adapter, { ...opts.snapshot, exactIntegers: true, extraFields: ["identities"] });
  }

  async *pages(): AsyncIterable<Page> {
    const roles = this.opts.copyRoles ? await this.rolesByUser() : undefined;
    const read = await this.snapshot.readExport();
    if (read.state !== "completed") throw new Error(`the source tenant's export job ${read.jobId} did not complete (${read.status})`);
    const wanted = new Set(this.opts.connections);
    const size = this.opts.pageSize ?? 500;
    let rows: Row[] = [];
    for await (const u of read.users) {
      // Fails closed: a user the export does not place in a configured connection is not copied.
      if (u.connection === undefined || !wanted.has(u.connection)) {
        this.skippedOtherConnections++;
        if (u.connection !== undefined && this.otherConnections.size < 20) this.otherConnections.add(u.connection);
        continue;
      }
      this.copied++;
      const user: SourceUser = { ...u, ...(roles ? { roles: roles.get(u.user_id) ?? [] } : {}) };
      const copied = this.opts.pseudonymiser.copy(user);
      this.opts.onUser?.(user, copied);
      rows.push(copied.row);
      if (rows.length >= size) {
        yield { columns: [...SOURCE_COLUMNS], rows };
        rows = [];
      }
    }
    if (this.copied === 0 && this.skippedOtherConnections > 0) {
      // A wrong connection name would otherwise be a green, empty copy (and mirror mode would find everyone gone).
      throw new Auth0Error(
        `none of the ${this.skippedOtherConnections} users of the source tenant's export is in ${this.opts.connections.join(", ")}; its users are in ${[...this.otherConnections].sort().join(", ") || "no named connection"} (source.connections)`,
        { kind: "rejected", retryable: false },
      );
    }
    yield { columns: [...SOURCE_COLUMNS], rows };
  }

  /** Every source user's role names, from the members of each role (the export has no roles). */
  private async rolesByUser(): Promise<Map<string, string[]>> {
    const byUser = new Map<string, string[]>();
    const roles = await this.opts.adapter.roleMap();
    for (const [name, id] of [...roles].sort(([a], [b]) => a.localeCompare(b))) {
      for await (const userId of this.snapshot.roleMembersById(id)) {
        const list = byUser.get(userId);
        if (list) list.push(name);
        else byUser.set(userId, [name]);
      }
    }
    return byUser;
  }
}
