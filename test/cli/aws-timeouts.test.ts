/**
 * The CLI against an AWS endpoint that accepts connections and never answers: the clients the CLI creates give up
 * after their timeouts and the CLI says so in one sentence (exit 2), instead of hanging. No SDK mocks in this file:
 * the clients are the CLI's own, pointed at a silent TCP server with AWS_ENDPOINT_URL.
 */
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AWS_TIMEOUTS, explainAwsError } from "../../cli/targets/aws-clients.js";
import { runCli } from "../../cli/program.js";

const ENV = ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] as const;
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
const sockets = new Set<Socket>();
let connections = 0;
let server: Server;

beforeAll(async () => {
  // Accepts every connection, reads what is sent, never writes a byte.
  server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.AWS_ACCESS_KEY_ID = "AKIDEXAMPLE";
  process.env.AWS_SECRET_ACCESS_KEY = "secret";
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

const SHORT = { connectMs: 500, requestMs: 1000 };

async function cli(argv: string[]) {
  let out = "";
  let err = "";
  const started = Date.now();
  const code = await runCli(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { AUTH0_SYNC_DEBUG: "1" },
    awsTimeouts: SHORT,
  });
  return { code, out, err, ms: Date.now() - started };
}

describe("auth0-sync against an AWS endpoint that never answers", () => {
  const sentence = "AWS did not answer within 1 s (CloudFormation DescribeStacks, region eu-west-1): check the network, the region or AWS_ENDPOINT_URL.";

  it("status gives up after the request timeout and its retry, in one sentence, exit 2", { timeout: 20_000 }, async () => {
    const before = connections;
    const r = await cli(["status", "--stack", "auth0-sync-demo", "--region", "eu-west-1"]);
    expect(r).toMatchObject({ code: 2, out: "", err: `${sentence}\n` });
    // Two attempts of 1 s each (AWS_TIMEOUTS.maxAttempts), not a hang: a generous bound, far below the 60 s kill.
    expect(r.ms).toBeLessThan(15_000);
    expect(connections - before).toBe(AWS_TIMEOUTS.maxAttempts);
  });

  it("--json puts the same sentence in its error object", { timeout: 20_000 }, async () => {
    const r = await cli(["status", "--stack", "auth0-sync-demo", "--region", "eu-west-1", "--json"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toEqual({ error: sentence });
    expect(r.err).toBe(`${sentence}\n`);
    expect(r.ms).toBeLessThan(15_000);
  });
});

describe("explainAwsError on timeouts", () => {
  it("a connection timeout, an SDK timeout without call details (wrapped), and a timeout that is not AWS's", () => {
    const connect = Object.assign(
      new Error("@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 5000 ms."),
      { name: "TimeoutError" },
    );
    expect(explainAwsError(connect)?.message).toBe("AWS did not accept a connection within 5 s: check the network, the region or AWS_ENDPOINT_URL.");
    const wrapped = new Error("reading the ledger failed", {
      cause: Object.assign(new Error("@smithy/node-http-handler - [ERROR] a request has exceeded the configured 20000 ms requestTimeout."), { name: "TimeoutError", code: "ETIMEDOUT" }),
    });
    expect(explainAwsError(wrapped)).toMatchObject({ exitCode: 2, message: "AWS did not answer within 20 s: check the network, the region or AWS_ENDPOINT_URL." });
    // Not every timeout is AWS's: an Auth0 call's AbortSignal.timeout() is left to the caller.
    expect(explainAwsError(new DOMException("The operation was aborted due to timeout", "TimeoutError"))).toBeUndefined();
  });
});

describe("auth0-sync with AWS out of reach", () => {
  it("nothing listening at the endpoint: one sentence naming the call, exit 2", { timeout: 20_000 }, async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const endpoint = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${port}`;
    try {
      const r = await cli(["status", "--stack", "auth0-sync-demo", "--region", "eu-west-1"]);
      expect(r).toMatchObject({ code: 2, out: "", err: "Cannot reach AWS (CloudFormation DescribeStacks, region eu-west-1, ECONNREFUSED): check the network, the region or AWS_ENDPOINT_URL.\n" });
    } finally {
      process.env.AWS_ENDPOINT_URL = endpoint;
    }
  });

  it("a name that does not resolve (no network): the same sentence with the host", () => {
    const dns = Object.assign(new Error("getaddrinfo ENOTFOUND cloudformation.eu-west-1.amazonaws.com"), { code: "ENOTFOUND", errno: -3008, syscall: "getaddrinfo", hostname: "cloudformation.eu-west-1.amazonaws.com" });
    expect(explainAwsError(dns)).toMatchObject({ exitCode: 2, message: "Cannot reach AWS (host cloudformation.eu-west-1.amazonaws.com, ENOTFOUND): check the network, the region or AWS_ENDPOINT_URL." });
    // A host that is not AWS's (an Auth0 tenant, say) is left to the caller.
    expect(explainAwsError(Object.assign(new Error("getaddrinfo ENOTFOUND acme.eu.auth0.com"), { code: "ENOTFOUND", hostname: "acme.eu.auth0.com" }))).toBeUndefined();
  });
});
