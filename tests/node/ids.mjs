// Generated ids: client_id and session_id come from a CSPRNG (128 bits, URL-safe), never from
// the gateway's pid and a counter. ZSA_GATEWAYS lists gateways (host:port, comma-separated) that
// must never hand out the same id, e.g. two in separate PID namespaces (both pid 1); ZSA_IDS_FILE,
// when set, keeps the ids across runs so that a restarted gateway is checked against its former
// self.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Client, GATEWAY, check, run } from './lib.mjs';

const gateways = (process.env.ZSA_GATEWAYS || GATEWAY).split(',');
const file = process.env.ZSA_IDS_FILE;
const PER_GATEWAY = 50;

run(async () => {
  const before = file && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : [];
  const seen = new Set(before);
  const fresh = [];
  for (const gateway of gateways) {
    for (let i = 0; i < PER_GATEWAY; i++) {
      const c = new Client('', { gateway });
      const m = await c.type('connected');
      await c.close();
      check(/^c-[A-Za-z0-9_-]{22}$/.test(m.client_id), `client_id ${m.client_id}: not c-<22 base64url>`);
      check(/^s-[A-Za-z0-9_-]{22}$/.test(m.session_id), `session_id ${m.session_id}: not s-<22 base64url>`);
      for (const id of [m.client_id, m.session_id]) {
        check(!/^(s-)?\d+-\d+$/.test(id), `${id} has the old <pid>-<counter> form`);
        check(!seen.has(id), `${id} from ${gateway} was handed out before`);
        seen.add(id);
        fresh.push(id);
      }
    }
  }
  if (file) writeFileSync(file, JSON.stringify(before.concat(fresh)));
  console.log(`ok: ${fresh.length} ids from ${gateways.length} gateway(s), ${before.length} earlier ones, all distinct`);
});
