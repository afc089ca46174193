/**
 * What mirror mode may touch. A managed user is absent only when no row of the run carries its key, whatever
 * became of the rows that do (rejected by validation, a duplicate, rejected by Auth0, dead-lettered): one bad
 * import in the warehouse must never block or delete the people it still lists. A row with no usable key could be
 * any managed user, so while one exists the run cannot know who is absent and mirror mode does nothing.
 */
import type { SyncConfig } from "./config.js";

/** The keys the rows of one run carry, recorded before any row is validated. */
export class RunPresence {
  private readonly keys = new Set<string>();
  /** Rows without a usable identity key, and the first of them. */
  unkeyed = 0;
  firstUnkeyedRow?: number;

  /** Records a row: its identity key (see `ProfileMapper.identityKey`), or undefined when it has none. */
  observe(key: string | undefined, row: number): void {
    if (key !== undefined) {
      this.keys.add(key);
      return;
    }
    this.unkeyed++;
    this.firstUnkeyedRow ??= row;
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Why this run's absent users cannot be known, or undefined when they can. No approval overrides it. */
  incompleteReason(identity: SyncConfig["identity"]): string | undefined {
    if (this.unkeyed === 0) return undefined;
    const what = identity.keyColumn
      ? `an empty or invalid identity key (${identity.keyColumn})`
      : `an empty or invalid email (${identity.emailColumn}), which is the identity`;
    const rows = this.unkeyed === 1 ? `1 row has ${what}: row ${this.firstUnkeyedRow}` : `${this.unkeyed} rows have ${what}, the first at row ${this.firstUnkeyedRow}`;
    return `${rows}; such a row could be any managed user, so nobody is blocked or deleted until it is fixed`;
  }
}
