import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { RedshiftDataEmulator } from "../local/redshift-data-emulator.js";
import { RedshiftSource } from "../functions/adapters/redshift/source.js";
const emu = new RedshiftDataEmulator({ pageSize: 2 });
const endpoint = await emu.start();
await emu.db.exec("create table t (id int, name text, price numeric(10,2), at timestamp, ok bool, data bytea, j jsonb, f float8, big int8)");
await emu.db.exec("insert into t values (1,'a',1.50,'2024-01-02 03:04:05',true,'\\x0102','{\"a\":1}',1.25,9007199254740000),(2,null,null,null,null,null,null,null,null),(3,'c',3,now(),false,'x','[1]',2,3)");
const client = new RedshiftDataClient({ endpoint, region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } });
const src = new RedshiftSource(client, { workgroupName: "wg", database: "dev", sql: "select * from t where id >= :min order by id", parameters: { min: "1" } }, { minMs: 5 });
for await (const p of src.run()) console.log(p);
try { for await (const p of new RedshiftSource(client, { workgroupName: "wg", database: "dev", sql: "select nope from t" }, { minMs: 5 }).run()) console.log(p); } catch (e) { console.log((e as Error).message); }
console.log(emu.calls);
await emu.stop();
