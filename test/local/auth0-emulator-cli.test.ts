import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";

describe("npm run emulator", () => {
  it("starts from the shell with the given budget and credentials and prints its base URL", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "local/auth0-emulator-cli.ts", "--rate", "5", "--burst", "7", "--client-id", "cli-id", "--client-secret", "cli-secret"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const lines = createInterface({ input: child.stdout });
      const baseUrl = await new Promise<string>((resolve, reject) => {
        lines.once("line", resolve);
        child.once("exit", (code) => reject(new Error(`emulator exited with ${code}`)));
      });
      expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const token = await fetch(`${baseUrl}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ grant_type: "client_credentials", client_id: "cli-id", client_secret: "cli-secret", audience: "https://tenant.emulator.local/api/v2/" }),
      });
      expect(token.status).toBe(200);
      const { access_token } = (await token.json()) as { access_token: string };
      const res = await fetch(`${baseUrl}/api/v2/users-by-email?email=a@example.com`, { headers: { authorization: `Bearer ${access_token}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-ratelimit-limit")).toBe("7");
      const denied = await fetch(`${baseUrl}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=client_credentials&client_id=cli-id&client_secret=nope&audience=https%3A%2F%2Ftenant.emulator.local%2Fapi%2Fv2%2F",
      });
      expect(denied.status).toBe(401);
    } finally {
      child.kill("SIGTERM");
    }
  });

  it("refuses a bad option with a clear message", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "local/auth0-emulator-cli.ts", "--rate", "fast"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    expect(err).toContain("--rate: expected a number from 0.01 to 10000, got 'fast'");
  });
});
