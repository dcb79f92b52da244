// One client floods the gateway with cancel messages (as fast as its socket takes them) while
// another, reading nothing, floods it with pings: the gateway stops reading both past their
// budgets (--client-msg-rate/--client-msg-burst, Redis requests in flight, unread replies), so
// its memory stays bounded (ZSA_GATEWAY_PID's RSS grows by less than MAX_GROWTH_MB) and a third
// client's ping round trip stays short; the flooders are slowed, not dropped.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Client, check, run } from './lib.mjs';

const pid = Number(process.env.ZSA_GATEWAY_PID);
const SECONDS = Number(process.env.ZSA_FLOOD_SECONDS || 5);
const MAX_GROWTH_MB = 64;

function rssMB() {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

run(async () => {
  check(pid > 0, 'ZSA_GATEWAY_PID is not set');
  const probe = new Client('?session_id=flood-probe');
  const cancels = new Client('?session_id=flood-a');
  const pings = new Client('?session_id=flood-b');
  await Promise.all([probe.type('connected'), cancels.type('connected'), pings.type('connected')]);
  const rss0 = rssMB();
  pings.ws._socket.pause(); // reads nothing: its replies pile up in the gateway
  const end = Date.now() + SECONDS * 1000;
  let sentA = 0, sentB = 0, peak = rss0;
  const pad = 'p'.repeat(900);
  const flood = async () => {
    while (Date.now() < end) {
      while (cancels.ws.bufferedAmount < 4e6 && Date.now() < end) {
        cancels.ws.send(JSON.stringify({ type: 'cancel', job_id: 'none-' + randomBytes(6).toString('hex') }));
        sentA++;
        if (sentA % 1000 === 0) break;
      }
      while (pings.ws.bufferedAmount < 4e6 && Date.now() < end) {
        pings.ws.send(JSON.stringify({ type: 'ping', pad }));
        sentB++;
        if (sentB % 1000 === 0) break;
      }
      await new Promise((ok) => setImmediate(ok));
    }
  };
  const rtts = [];
  const measure = async () => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      probe.send({ type: 'ping' });
      await probe.type('pong', 5000);
      rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
      peak = Math.max(peak, rssMB());
      await sleep(20);
    }
  };
  await Promise.all([flood(), measure()]);
  peak = Math.max(peak, rssMB());
  check(!cancels.closeInfo, `the cancel flooder was closed: ${JSON.stringify(cancels.closeInfo)}`);
  const answered = cancels.inbox.filter((m) => m.event_type === 'error').length;
  check(answered > 0 && answered < sentA, `cancels: ${sentA} sent, ${answered} answered`);
  rtts.sort((a, b) => a - b);
  const med = rtts[rtts.length >> 1], p99 = rtts[Math.floor(rtts.length * 0.99)];
  check(med < 5, `the other client's median ping round trip is ${med.toFixed(2)} ms during the flood`);
  check(peak - rss0 < MAX_GROWTH_MB, `gateway RSS grew ${(peak - rss0).toFixed(1)} MB (${rss0.toFixed(1)} -> ${peak.toFixed(1)})`);
  pings.ws._socket.resume();
  probe.close(); cancels.close(); pings.ws.terminate();
  console.log(`ok: ${sentA} cancels (${answered} answered) and ${sentB} pings offered in ${SECONDS} s; ` +
    `gateway RSS ${rss0.toFixed(1)} -> peak ${peak.toFixed(1)} MB; probe ping median ${med.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms over ${rtts.length}`);
});
