/**
 * The local state directory's safeguards: one process at a time (an exclusive lock file), and what it holds
 * checked before anything changes: a warehouse seeded to the end, input files that exist, state files that parse.
 * Each refusal is one sentence that names the file and the way out.
 */
import { closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A refusal of the local runner: printed as one sentence, nothing changed. */
export class LocalStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LocalStateError";
  }
}

const LOCK = ".lock";
/** Written once the warehouse was seeded (or loaded from a CSV) to the end. */
export const WAREHOUSE_READY = "warehouse.ready";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes the state directory for this process, or refuses while another live process (or another environment of
 * this one) holds it. A lock left by a killed process is taken over. Returns the release function.
 */
export function lockStateDir(stateDir: string): () => void {
  const path = join(stateDir, LOCK);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeFileSync(fd, JSON.stringify({ pid: process.pid, since: new Date().toISOString() }));
      closeSync(fd);
      return () => {
        try {
          const held = JSON.parse(readFileSync(path, "utf8")) as { pid?: number };
          if (held.pid === process.pid) unlinkSync(path);
        } catch {
          // Already gone (e.g. --fresh removed the directory).
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw err;
    }
    let pid: number | undefined;
    try {
      pid = (JSON.parse(readFileSync(path, "utf8")) as { pid?: number }).pid;
    } catch {
      pid = undefined;
    }
    if (pid !== undefined && alive(pid)) {
      throw new LocalStateError(
        `The state directory ${stateDir} is in use by another auth0-sync process (pid ${pid}${pid === process.pid ? ", this one" : ""}): wait for it to finish, or use another --state.`,
      );
    }
    rmSync(path, { force: true });
  }
}

/** Empties the state directory (--fresh), keeping this process's lock. */
export function clearStateDir(stateDir: string): void {
  for (const name of readdirSync(stateDir)) if (name !== LOCK) rmSync(join(stateDir, name), { recursive: true, force: true });
}

/** A JSON state file, or a refusal naming it and the way out. */
export function readStateFile<T>(path: string, what: string, valid: (v: unknown) => v is T): T {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new LocalStateError(`${path} is not a valid ${what} (${(err as Error).message}): restore it, delete it to lose what it holds, or start over with --fresh.`);
  }
  if (!valid(value)) throw new LocalStateError(`${path} is not a valid ${what} (unexpected contents): restore it, delete it to lose what it holds, or start over with --fresh.`);
  return value;
}

export const warehouseReady = (stateDir: string) => existsSync(join(stateDir, WAREHOUSE_READY));
export const markWarehouseReady = (stateDir: string, what: string) => writeFileSync(join(stateDir, WAREHOUSE_READY), `${what}\n`);
