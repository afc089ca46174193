/**
 * How an extract finds its unchanged rows: by reading the whole ledger once (a parallel Scan projecting key and
 * fingerprint) or by looking each row up (BatchGetItem, 100 keys a request). A lookup costs a read unit per item
 * (each rounded up to 4 KB); a Scan costs the items' total size in 4 KB units, so with entries of about 1 KB a Scan of
 * up to four items per row read costs no more, in a hundredth of the requests, and can run before the first page is
 * compared. A run that reads a small part of a large ledger (an incremental query) looks its rows up.
 */

/** Scanning the ledger pays when it holds at most this many items per row the run reads. */
export const SCAN_ITEMS_PER_ROW = 4;

/** "auto" decides per run from the result's and the ledger's sizes; "scan" and "lookup" force one way. */
export type UnchangedCheckMode = "auto" | "scan" | "lookup";

export function chooseUnchangedCheck(resultRows: number, ledgerItems: number): "scan" | "lookup" {
  return ledgerItems <= SCAN_ITEMS_PER_ROW * Math.max(resultRows, 1) ? "scan" : "lookup";
}

/**
 * The check a run makes: "lookup" when forced, or when the ledger's size is unknown (sizing is an optimisation: an
 * operator's role may lack DescribeTable), or in "auto" when the ledger is too large for the rows it reads.
 */
export function unchangedCheckFor(mode: UnchangedCheckMode, expectedRows: number, ledgerItems: number | undefined): "scan" | "lookup" {
  if (mode === "lookup" || ledgerItems === undefined) return "lookup";
  return mode === "scan" ? "scan" : chooseUnchangedCheck(expectedRows, ledgerItems);
}

/** Parallel Scan segments for a ledger of this many items: 4 up to 100,000 items, then one per 25,000, at most 16. */
export function scanSegments(ledgerItems: number): number {
  return Math.min(16, Math.max(4, Math.ceil(ledgerItems / 25_000)));
}
