/**
 * The port the extractor reads rows through. A source yields the result page by page (never the whole result in
 * memory), each page with the result's column names; it may know the result's row count once the statement ran
 * (`resultRows`), which sizes the unchanged check and the progress display. The Redshift Data API is the first
 * implementation (functions/adapters/redshift); a second source needs no change to the extractor.
 */
import type { Row } from "./types.js";

export interface Page {
  /** The result's column names, as the rows are keyed (checked against the config before any row is read). */
  columns: string[];
  rows: Row[];
}

export interface RowSource {
  /** The result, one page at a time; an error ends the extract (the run fails, mirror mode never acts). */
  pages(): AsyncIterable<Page>;
  /** The result's row count once known (before the first page at the latest), or undefined. */
  readonly resultRows?: number;
}
