// permessage-deflate in both directions, as every browser negotiates it: a deflating client sends
// more than 1 MB of varied messages, JSON text and MessagePack binary, with Node's zlib and its
// default 15-bit window and context takeover; every message is answered and nothing closes. A
// compressible message over the 64 KB cap closes with 1009 at once.
import { Client, check, run, deadline } from './lib.mjs';
import { randomBytes } from 'node:crypto';

function varied(i) {
  // repetitive enough to compress well (back-references far apart), different every time
  const word = randomBytes(6).toString('base64url');
  return `${i}:` + Array.from({ length: 100 + (i % 300) }, (_, k) => `${word}-${(k * 7919 + i) % 1000}`).join(' ');
}

async function flood(msgpack) {
  const c = new Client('?session_id=deflate-' + (msgpack ? 'mp' : 'json'), { deflate: true, msgpack });
  await c.opened;
  check(/permessage-deflate/.test(c.extensions), `deflate was not negotiated: "${c.extensions}"`);
  await c.type('connected');
  let bytes = 0, sent = 0;
  for (let i = 0; bytes < 1.1e6; i++) {
    // pings (answered with pong) and cancels of jobs that do not exist (answered with an error)
    const m = i % 3 === 2 ? { type: 'cancel', job_id: 'no-such-' + randomBytes(9).toString('hex') }
                          : { type: 'ping', note: varied(i) };
    c.send(m);
    sent++;
    bytes += JSON.stringify(m).length;
    const want = m.type === 'ping' ? 'pong' : 'error';
    const got = await c.next((x) => x.event_type === want, 10000, `${want} for message ${i}`);
    if (want === 'error')
      check(got.code === 'UNKNOWN_JOB', `cancel ${i}: ${JSON.stringify(got)}`);
  }
  check(!c.closeInfo, `closed: ${JSON.stringify(c.closeInfo)}`);
  await c.close();
  return { sent, bytes };
}

async function tooLarge() {
  const c = new Client('?session_id=deflate-big', { deflate: true });
  await c.opened;
  await c.type('connected');
  const t0 = Date.now();
  c.send({ type: 'ping', note: 'x'.repeat(100000) }); // ~150 bytes on the wire
  const info = await deadline(c.closed, 3000, 'the 1009 close');
  check(info.code === 1009, `closed with ${info.code} ${info.reason}, not 1009`);
  return Date.now() - t0;
}

// An offer lws 4.1 cannot honour (server_no_context_takeover) is declined, not refused: the
// connection works uncompressed.
async function declined() {
  const c = new Client('?session_id=deflate-snct', { deflate: { serverNoContextTakeover: true } });
  await c.opened;
  check(!/permessage-deflate/.test(c.extensions), `accepted: "${c.extensions}"`);
  await c.type('connected');
  c.send({ type: 'ping', note: 'y'.repeat(5000) });
  await c.type('pong');
  await c.close();
}

run(async () => {
  await declined();
  const a = await flood(false);
  const b = await flood(true);
  const ms = await tooLarge();
  console.log(`ok: json ${a.sent} messages ${a.bytes} B, msgpack ${b.sent} messages ${b.bytes} B, 1009 after ${ms} ms`);
});
