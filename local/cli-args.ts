/** Parses a numeric command-line option, or exits 2 with a sentence naming the option and the allowed range. */
export function numberOption(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
  fail: (message: string) => never,
  opts: { integer?: boolean } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const what = opts.integer ? "a whole number" : "a number";
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max || (opts.integer && !Number.isInteger(n))) {
    fail(`--${name}: expected ${what} from ${min} to ${max}, got '${value}'`);
  }
  return n;
}
