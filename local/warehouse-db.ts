/**
 * The embedded warehouse's database (PGlite, Postgres in WebAssembly) in a state directory. A new one starts from a
 * dump of an empty database cluster instead of running initdb: initdb takes 3-5 s, loading the dump about 1 s, and
 * every fresh state directory (each `npm start -- --fresh`, each test) pays it. The dump is made once per PGlite
 * version and kept in the OS's temporary directory; it holds no data, only the empty cluster.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";

/** The installed PGlite's version (its package.json is not exported: found beside its entry point). */
function pgliteVersion(): string {
  for (let dir = dirname(createRequire(import.meta.url).resolve("@electric-sql/pglite")); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "@electric-sql/pglite" && pkg.version) return pkg.version;
  }
  return "unknown";
}
const PGLITE_VERSION = pgliteVersion();

/** Where the dump of an empty cluster is kept for this PGlite version. */
const templateFile = () => join(tmpdir(), `auth0-sync-pglite-${PGLITE_VERSION}-empty.tar.gz`);

async function emptyClusterDump(): Promise<Blob> {
  const file = templateFile();
  if (existsSync(file)) return new Blob([readFileSync(file)]);
  const db = new PGlite();
  try {
    // (dumpDataDir before the database is ready never returns.)
    await db.waitReady;
    const dump = await db.dumpDataDir("gzip");
    // Written whole, then renamed into place: two processes making it at once never read half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    renameSync(tmp, file);
    return dump;
  } finally {
    await db.close();
  }
}

/** Opens the warehouse at `dir`; a directory that does not exist yet (or is empty) gets a new, empty cluster. */
export async function openWarehouseDb(dir: string): Promise<PGlite> {
  const isNew = !existsSync(dir) || readdirSync(dir).length === 0;
  if (!isNew) {
    const db = new PGlite(dir);
    await db.waitReady;
    return db;
  }
  let dump: Blob | undefined;
  try {
    dump = await emptyClusterDump();
  } catch {
    // Only a speed-up: without a usable dump, initdb makes the cluster as before.
    rmSync(templateFile(), { force: true });
  }
  mkdirSync(dir, { recursive: true });
  const db = new PGlite(dir, dump ? { loadDataDir: dump } : {});
  await db.waitReady;
  return db;
}
