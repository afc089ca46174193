/**
 * A progress line on stderr: a bar redrawn in place on a terminal, a plain line every few seconds otherwise
 * (CI logs, pipes), nothing at all with --json.
 */
export interface ProgressWriter {
  isTTY?: boolean;
  write(s: string): unknown;
}

export class ProgressLine {
  private last = 0;
  private drawn = false;
  /** The counts of the last plain line: a plain line is written only when they moved (or at the end). */
  private lastCounts: string | undefined;

  constructor(
    private readonly out: ProgressWriter,
    private readonly enabled = true,
    private readonly plainEveryMs = 2000,
  ) {}

  update(label: string, done: number, total: number, elapsedMs: number, final = false): void {
    if (!this.enabled) return;
    const share = total > 0 ? Math.min(1, done / total) : 0;
    const rate = elapsedMs > 0 ? (done / elapsedMs) * 1000 : 0;
    const eta = !final && rate > 0 && total > done ? `, ETA ${Math.ceil((total - done) / rate)} s` : "";
    // Without a total (not known yet) the count alone; with neither, just the label and the time.
    const counts = total > 0 ? `${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} (${Math.floor(share * 100)}%)` : done > 0 ? done.toLocaleString("en-US") : "";
    const text = `${counts ? `${label.padEnd(8)}${counts}` : label}, ${(elapsedMs / 1000).toFixed(0)} s${eta}`;
    if (this.out.isTTY) {
      const width = 24;
      const bar = total > 0 ? `[${"#".repeat(Math.round(share * width)).padEnd(width, "-")}] ` : "";
      this.out.write(`\r\x1b[2K${bar}${text}`);
      this.drawn = true;
    } else if (final || (Date.now() - this.last >= this.plainEveryMs && counts !== this.lastCounts)) {
      // Not the same line again while nothing moves (a warehouse still running the statement).
      this.last = Date.now();
      this.lastCounts = counts;
      this.out.write(`${text}\n`);
    }
  }

  /** Ends the redrawn line so what follows starts on a new one. */
  end(): void {
    if (this.drawn) this.out.write("\n");
    this.drawn = false;
  }
}
