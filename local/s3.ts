/**
 * S3 on 127.0.0.1 for the unloaded files: s3rver (the S3 REST API over a directory), reached with the real S3
 * client (path-style, any credentials). The Data API emulator's UNLOAD writes to it and the segment workers read
 * from it, as Redshift and the Lambdas do with the stack's bucket.
 */
import { mkdirSync } from "node:fs";
import { S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";

export interface LocalS3 {
  endpoint: string;
  /** A client for the stand-in (path-style, as S3 stand-ins need). */
  client(): S3Client;
  stop(): Promise<void>;
}

/** Credentials s3rver checks signatures with. */
const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export async function startS3(directory: string, buckets: string[]): Promise<LocalS3> {
  mkdirSync(directory, { recursive: true });
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, vhostBuckets: false, configureBuckets: buckets.map((name) => ({ name })) });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const clients: S3Client[] = [];
  return {
    endpoint,
    client: () => {
      const c = new S3Client({ endpoint, forcePathStyle: true, region: "us-east-1", credentials: S3RVER_CREDENTIALS });
      clients.push(c);
      return c;
    },
    stop: async () => {
      for (const c of clients) c.destroy();
      await server.close();
    },
  };
}
