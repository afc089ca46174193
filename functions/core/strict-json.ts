/**
 * JSON text from a row, refused when an object names a key twice. JSON.parse keeps the last of two equal keys
 * without a word, so `{"acme":"admin","acme":"viewer"}` would sync as viewer while whoever wrote it may have meant
 * admin: the row is rejected instead, naming the key (the column is named by the caller).
 */

/** An object in the text names this key twice. */
export class DuplicateKeyError extends Error {
  constructor(readonly key: string) {
    super(`names the key ${JSON.stringify(key)} twice in one object (JSON keeps only the last)`);
    this.name = "DuplicateKeyError";
  }
}

/**
 * The first key an object of `text` names twice, or undefined. `text` must be valid JSON (parse it first): the
 * scan only follows strings and brackets.
 */
export function duplicateKey(text: string): string | undefined {
  // Per open bracket: the keys seen so far (an object) or null (an array), and whether a key comes next.
  const stack: { keys: Set<string> | null; keyNext: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") stack.push({ keys: new Set(), keyNext: true });
    else if (c === "[") stack.push({ keys: null, keyNext: false });
    else if (c === "}" || c === "]") stack.pop();
    else if (c === ",") {
      const top = stack[stack.length - 1];
      if (top?.keys) top.keyNext = true;
    } else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === "\\") i++;
      const top = stack[stack.length - 1];
      if (top?.keys && top.keyNext) {
        // The key as JSON.parse reads it: "\u0061" and "a" are the same key.
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.keyNext = false;
      }
    }
  }
  return undefined;
}

/** JSON.parse that refuses a key named twice in one object (DuplicateKeyError); a SyntaxError as JSON.parse's. */
export function parseStrictJson(text: string): unknown {
  const value = JSON.parse(text) as unknown;
  const dup = duplicateKey(text);
  if (dup !== undefined) throw new DuplicateKeyError(dup);
  return value;
}
