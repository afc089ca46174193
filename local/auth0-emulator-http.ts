/**
 * The Auth0 emulator's JSON types and error answers, shared by the server and the modules it routes to: an
 * `HttpError` thrown anywhere in a Management API handler becomes the response, in Auth0's error body shape
 * (`{statusCode, error, message, errorCode}`).
 */

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: JsonObject,
  ) {
    const text = (v: Json | undefined) => (typeof v === "string" ? v : undefined);
    super(text(body.message) ?? text(body.error_description) ?? String(status));
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Request Entity Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export const apiError = (status: number, message: string, errorCode?: string): HttpError =>
  new HttpError(status, { statusCode: status, error: STATUS_TEXT[status] ?? "Error", message, ...(errorCode ? { errorCode } : {}) });

/** A 400 for a body that breaks the endpoint's schema, worded as Auth0 words it. */
export const invalidBody = (detail: string, property?: string): HttpError =>
  apiError(400, `Payload validation error: '${detail}'${property ? ` on property ${property}` : ""}.`, "invalid_body");

/** A 400 for a query string that breaks the endpoint's schema, worded as Auth0 words it. */
export const invalidQuery = (detail: string, property: string): HttpError =>
  apiError(400, `Query validation error: '${detail}' on property ${property}.`, "invalid_query_string");

/** A JSON schema type name, as Auth0's validation messages use them. */
export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}
