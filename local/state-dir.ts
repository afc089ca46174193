/**
 * The local state directory's safeguards: one process at a time (an exclusive lock file), and what it holds
 * checked before anything changes: a warehouse seeded to the end, input files that exist, state files that parse.
 * Each refusal is one sentence that names the file and the way out.
 */
import { randomBytes } from "node:crypto";
import { existsSync, linkSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
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

/** What a lock file says: its holder, or nothing usable (a lock of an older version, created empty, then killed). */
interface LockHolder {
  pid?: number;
  token?: string;
}

function readLock(path: string): { text: string; holder: LockHolder } | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const v = JSON.parse(text) as LockHolder;
    return { text, holder: v !== null && typeof v === "object" ? v : {} };
  } catch {
    return { text, holder: {} };
  }
}

/**
 * Creates `path` holding `content`, or returns false when it exists. The file is written whole under a name of
 * its own and then hard-linked into place (link fails when the name exists), so no process ever sees a lock that
 * is empty or half written: an empty lock read as "no holder" was how two processes came to hold one directory.
 */
function createWhole(path: string, content: string): boolean {
  for (let attempt = 0; ; attempt++) {
    const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}`;
    try {
      writeFileSync(tmp, content);
      linkSync(tmp, path);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return false;
      // Our temporary file vanished before the link (another process's --fresh emptied the directory): again.
      if (code !== "ENOENT" || attempt >= 5) throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
}

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** A takeover lock older than this was left by a process killed inside its few microseconds: it is removed. */
const TAKEOVER_STALE_MS = 5_000;

/**
 * Replaces a stale lock (its holder is dead) by ours, under a second lock that only one process holds at a time:
 * inside it the lock is read again and replaced with one rename only if it is still the stale one we judged, so two
 * processes that both found it stale never both take it. Returns false when the lock changed meanwhile.
 */
function takeOver(path: string, staleText: string, content: string): boolean {
  const mutex = `${path}.takeover`;
  for (;;) {
    if (createWhole(mutex, String(process.pid))) break;
    try {
      if (Date.now() - statSync(mutex).mtimeMs > TAKEOVER_STALE_MS) rmSync(mutex, { force: true });
    } catch {
      // Released meanwhile.
    }
    pause(5);
  }
  try {
    if (readLock(path)?.text !== staleText) return false;
    const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}`;
    writeFileSync(tmp, content);
    renameSync(tmp, path);
    return true;
  } finally {
    rmSync(mutex, { force: true });
  }
}

/**
 * Takes the state directory for this process, or refuses while another live process (or another environment of
 * this one) holds it. A lock left by a killed process is taken over. Returns the release function.
 */
export function lockStateDir(stateDir: string): () => void {
  const path = join(stateDir, LOCK);
  const token = randomBytes(12).toString("hex");
  const content = JSON.stringify({ pid: process.pid, since: new Date().toISOString(), token });
  const release = () => {
    // Only our own lock: --fresh may have removed the directory, and a lock of another token is not ours.
    if (readLock(path)?.holder.token === token) rmSync(path, { force: true });
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    if (createWhole(path, content)) return release;
    const held = readLock(path);
    if (!held) continue; // released between our attempt and the read
    const { pid } = held.holder;
    if (typeof pid === "number" && alive(pid)) {
      throw new LocalStateError(
        `The state directory ${stateDir} is in use by another auth0-sync process (pid ${pid}${pid === process.pid ? ", this one" : ""}): wait for it to finish, or use another --state.`,
      );
    }
    if (takeOver(path, held.text, content)) return release;
  }
  throw new LocalStateError(`The state directory ${stateDir} could not be locked: other processes keep taking and releasing it; try again.`);
}

/** Empties the state directory (--fresh), keeping the lock and the files other processes are taking it with. */
export function clearStateDir(stateDir: string): void {
  for (const name of readdirSync(stateDir)) if (!name.startsWith(LOCK)) rmSync(join(stateDir, name), { recursive: true, force: true });
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
