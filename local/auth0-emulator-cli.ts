/**
 * `npm run emulator -- --port <p> --rate <rps> --burst <n> --client-id <id> --client-secret <secret>`
 * Starts the Auth0 Management API emulator on 127.0.0.1 and prints its base URL.
 */
import { parseArgs } from "node:util";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_DOMAIN } from "./auth0-emulator.js";
import { numberOption } from "./cli-args.js";

const HELP = `Usage: npm run emulator -- [options]

Options:
  --port <p>             port on 127.0.0.1 (default: chosen by the OS)
  --rate <rps>           sustained requests per second of the tenant bucket (default 16)
  --burst <n>            bucket size (default 50)
  --client-id <id>       accepted client id (default ${DEFAULT_CLIENT_ID})
  --client-secret <s>    accepted client secret (default: the documented local secret)
  --domain <host>        tenant domain the token audience must name (default ${DEFAULT_DOMAIN})
  --roles <a,b,c>        role names that exist in the tenant
  --fail-rate <r>        share of requests answered 5xx (0..1)
  --latency-ms <m>       added latency per request
  --jitter-ms <m>        random extra latency per request
  --token-lifetime <s>   access token lifetime in seconds (default 86400)
  --import-users-per-second <n>
                         users a bulk import job processes per second (default 111)
  -h, --help             this text`;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
const num = (name: string, v: string | undefined, min: number, max: number) => numberOption(name, v, min, max, fail);

let args;
try {
  args = parseArgs({
    options: {
      port: { type: "string" },
      rate: { type: "string" },
      burst: { type: "string" },
      "client-id": { type: "string" },
      "client-secret": { type: "string" },
      domain: { type: "string" },
      roles: { type: "string" },
      "fail-rate": { type: "string" },
      "latency-ms": { type: "string" },
      "jitter-ms": { type: "string" },
      "token-lifetime": { type: "string" },
      "import-users-per-second": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (err) {
  console.error(`${(err as Error).message}\n\n${HELP}`);
  process.exit(2);
}
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

const emulator = new Auth0Emulator({
  port: num("port", args.port, 0, 65535),
  rate: num("rate", args.rate, 0.01, 10_000),
  burst: num("burst", args.burst, 1, 100_000),
  clientId: args["client-id"],
  clientSecret: args["client-secret"],
  domain: args.domain,
  roles: args.roles?.split(",").map((r) => r.trim()).filter(Boolean),
  tokenLifetimeSec: num("token-lifetime", args["token-lifetime"], 1, 30 * 86_400),
  importUsersPerSecond: num("import-users-per-second", args["import-users-per-second"], 0.01, 1_000_000),
  faults: {
    failRate: num("fail-rate", args["fail-rate"], 0, 1) ?? 0,
    latencyMs: num("latency-ms", args["latency-ms"], 0, 60_000) ?? 0,
    jitterMs: num("jitter-ms", args["jitter-ms"], 0, 60_000) ?? 0,
  },
});
const baseUrl = await emulator.start().catch((err: Error) => {
  console.error(`Could not start the emulator: ${err.message}`);
  process.exit(1);
});
console.log(baseUrl);
console.log(
  `Auth0 emulator for domain ${emulator.domain}; client id ${emulator.clientId}${args["client-secret"] ? "" : " with the default local secret"}. Ctrl-C stops it.`,
);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    void emulator.stop().then(() => process.exit(0));
  });
}
