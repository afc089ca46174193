/** Parses a numeric command-line option, or exits 2 with a sentence naming the option and the allowed range. */
export function numberOption(name: string, value: string | undefined, min: number, max: number, fail: (message: string) => never): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) fail(`--${name}: expected a number from ${min} to ${max}, got '${value}'`);
  return n;
}
