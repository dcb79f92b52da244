// Every connection counts against --max-connections (ZSA_MAX_CONNECTIONS, plus the gateway's
// fixed slack of 64 for REST), half-sent requests included: past it a new connection gets 503
// TOO_MANY_CONNECTIONS with the JSON body at once. A request body dripped a byte at a time is
// answered 408 REQUEST_TIMEOUT after --body-timeout-s (ZSA_BODY_TIMEOUT_S) and closed, instead
// of holding its connection and buffer forever.
import net from 'node:net';
import { GATEWAY, check, run, http } from './lib.mjs';

const [host, port] = GATEWAY.split(':');
const MAX = Number(process.env.ZSA_MAX_CONNECTIONS), BODY_S = Number(process.env.ZSA_BODY_TIMEOUT_S);
const SLACK = 64;

function open() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port: Number(port) }, () => resolve(s));
    s.on('error', reject);
  });
}

function response(s, ms) {
  return new Promise((resolve, reject) => {
    let data = '';
    const t = setTimeout(() => reject(new Error(`no answer in ${ms} ms (got "${data}")`)), ms);
    s.on('data', (d) => { data += d; });
    s.on('close', () => { clearTimeout(t); resolve(data); });
  });
}

async function dripped() {
  const s = await open();
  const t0 = Date.now();
  s.write(`POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"image_id":`);
  const drip = setInterval(() => s.write(' '), 400); // never idle long enough for any idle timer
  try {
    const got = await response(s, (BODY_S + 10) * 1000);
    const ms = Date.now() - t0;
    check(/^HTTP\/1\.1 408 /.test(got), `a dripped body got: ${JSON.stringify(got)}`);
    const body = JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4));
    check(body.error.code === 'REQUEST_TIMEOUT', `408 body: ${JSON.stringify(body)}`);
    check(ms >= BODY_S * 1000 - 200, `408 after ${ms} ms, before the ${BODY_S} s deadline`);
    return ms;
  } finally {
    clearInterval(drip);
  }
}

async function counted() {
  // half-sent requests (headers never finished) fill every slot
  const held = [];
  for (let i = 0; i < MAX + SLACK; i++) {
    const s = await open();
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // no blank line: still arriving
    held.push(s);
  }
  await new Promise((ok) => setTimeout(ok, 200));
  const extra = await open();
  extra.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  const got = await response(extra, 5000);
  check(/^HTTP\/1\.1 503 /.test(got) && /TOO_MANY_CONNECTIONS/.test(got), `connection ${MAX + SLACK + 1}: ${JSON.stringify(got)}`);
  for (const s of held) s.destroy();
  // the slots come back
  for (let i = 0; ; i++) {
    await new Promise((ok) => setTimeout(ok, 100));
    const r = await http('GET', '/ws/stats').catch(() => ({ status: 0 }));
    if (r.status === 200 && r.body.sockets <= 2) {
      check(r.body.refused_connections >= 1, `refused_connections: ${r.text}`);
      return r.body;
    }
    check(i < 50, `sockets not released: ${r.text}`);
  }
}

run(async () => {
  const [ms, stats] = await Promise.all([dripped(), counted()]);
  console.log(`ok: dripped body answered 408 after ${ms} ms; connection ${MAX + SLACK + 1} refused 503; sockets back to ${stats.sockets}`);
});
