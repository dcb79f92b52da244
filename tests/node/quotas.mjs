// Quotas and rate limits, from clients with tokens (minted here as a backend would): one token
// floods POST /api/jobs and gets 429 RATE_LIMITED with Retry-After past its bucket, while
// another token's submits all go through and its jobs' events arrive; the flooder is served
// again after Retry-After; a session at --max-session-jobs gets 429 QUOTA_EXCEEDED until one of
// its jobs ends; a job over --max-job-kb is 413; a simulate job longer than the worker's
// --max-simulate-s fails INVALID_PARAMETERS; a WebSocket client over --client-msg-rate is told
// RATE_LIMITED with retry_after_ms and still gets every answer.
// Environment: ZSA_GATEWAY, ZSA_KEYS_FILE; the gateway runs with --submit-rate=5
// --submit-burst=10 --max-session-jobs=30 --client-msg-rate=50 --client-msg-burst=100.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Client, check, http, keys, mint, run } from './lib.mjs';

const k1 = keys().k1;
const ALL = ['read', 'submit', 'control'];
const tok = (sub, session) => mint('k1', k1, { sub, sessions: [session], scope: ALL });
const bearer = (t) => ({ authorization: `Bearer ${t}` });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sim = (extra = {}) => ({ image_id: 'q', algorithm: 'simulate', parameters: { duration_seconds: 0, ...extra } });

// The flood runs in a thread of its own (its own event loop), so that the other token's round
// trips measure the gateway, not this script's queue: 20 requests in flight for 3 s.
if (!isMainThread) {
  const { token, ms } = workerData;
  const out = { ok: 0, limited: 0, retryAfter: 0, bodyMs: 0, other: '' };
  const t0 = Date.now();
  const one = async () => {
    while (Date.now() - t0 < ms) {
      const r = await http('POST', '/api/jobs', sim(), bearer(token));
      if (r.status === 202) out.ok++;
      else if (r.status === 429 && r.body?.error?.code === 'RATE_LIMITED') {
        out.limited++;
        out.retryAfter = Number(r.headers.get('retry-after'));
        out.bodyMs = r.body.error.retry_after_ms;
      } else out.other = `${r.status} ${r.text}`;
    }
  };
  Promise.all(Array.from({ length: 20 }, one)).then(() => parentPort.postMessage(out));
} else run(async () => {
  const flooder = tok('flooder', 'F'), good = tok('good', 'G');
  const watch = new Client(`?session_id=G&token=${good}`);
  await watch.type('connected');

  // the other token's submit round trip alone, for comparison (printed, not asserted: timings
  // belong to benchmarks)
  const alone = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    const x = await http('POST', '/api/jobs', sim(), bearer(good));
    alone.push(performance.now() - t);
    check(x.status === 202, `the other token alone: ${x.status}`);
    await sleep(250);
  }
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const t0 = Date.now();
  const flood = new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { token: flooder, ms: 3000 } });
    w.on('message', resolve);
    w.on('error', reject);
  });
  // the other token, meanwhile: one job every 250 ms, all accepted
  const mine = [], during = [];
  const steady = async () => {
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      const r = await http('POST', '/api/jobs', sim(), bearer(good));
      during.push(performance.now() - t);
      check(r.status === 202, `the other token's submit ${i}: ${r.status} ${r.text}`);
      mine.push(r.body.job_id);
      await sleep(250);
    }
  };
  const [{ ok, limited, retryAfter, bodyMs, other }] = await Promise.all([flood, steady()]);
  const secs = (Date.now() - t0) / 1000;
  check(!other, `flood: ${other}`);
  check(limited > 0, `no submit was limited (${ok} accepted)`);
  check(ok <= 10 + 5 * secs + 2, `${ok} flood submits accepted in ${secs.toFixed(1)} s (burst 10 + 5/s)`);
  check(retryAfter >= 1 && bodyMs > 0 && bodyMs <= 1000, `Retry-After ${retryAfter}, retry_after_ms ${bodyMs}`);
  for (const id of mine) await watch.next((m) => m.job_id === id && m.event_type === 'processing_complete', 20000, `${id} complete`);
  await sleep(retryAfter * 1000);
  let r = await http('POST', '/api/jobs', sim(), bearer(flooder));
  check(r.status === 202, `after Retry-After: ${r.status} ${r.text}`);

  // sizes and durations
  const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`note${i}`, 'x'.repeat(7000)]));
  r = await http('POST', '/api/jobs', sim(big), bearer(good));
  check(r.status === 413 && r.body.error.code === 'JOB_TOO_LARGE', `70 KB job: ${r.status} ${r.text}`);
  r = await http('POST', '/api/jobs', sim({ duration_seconds: 100000 }), bearer(good));
  check(r.status === 202, `long simulate: ${r.status} ${r.text}`);
  const fail = await watch.next((m) => m.job_id === r.body.job_id && m.event_type === 'processing_failed', 20000, 'the long job to fail');
  check(fail.error_code === 'INVALID_PARAMETERS' && /max-simulate-s/.test(fail.error), `long simulate: ${JSON.stringify(fail)}`);

  // WebSocket messages over the client's rate: told, slowed, nothing lost
  const c = new Client(`?session_id=F&token=${flooder}`);
  await c.type('connected');
  const N = 300;
  for (let i = 0; i < N; i++) c.send({ type: 'ping' });
  const rl = await c.next((m) => m.event_type === 'error', 10000, 'RATE_LIMITED');
  check(rl.code === 'RATE_LIMITED' && rl.retry_after_ms > 0, `ws: ${JSON.stringify(rl)}`);
  for (let i = 0; i < N; i++) await c.type('pong', 20000);
  await c.close();

  // a session's jobs queued or running: at most 30 (submits paced by the rate limit)
  const capped = tok('capped', 'C');
  const held = [];
  const submit = async (params) => {
    for (;;) {
      const x = await http('POST', '/api/jobs', sim(params), bearer(capped));
      if (x.status !== 429 || x.body.error.code !== 'RATE_LIMITED') return x;
      await sleep(x.body.error.retry_after_ms);
    }
  };
  for (let i = 0; i < 30; i++) {
    r = await submit({ duration_seconds: 30 });
    check(r.status === 202, `capped ${i}: ${r.status} ${r.text}`);
    held.push(r.body.job_id);
  }
  r = await submit({});
  check(r.status === 429 && r.body.error.code === 'QUOTA_EXCEEDED' && r.body.error.field === 'session_id',
    `a 31st job in the session: ${r.status} ${r.text}`);
  r = await http('POST', `/api/jobs/${held[0]}/cancel`, {}, bearer(capped)); // running: it ends
  check(r.status === 202, `cancel: ${r.status} ${r.text}`);
  for (let i = 0; i < 100; i++) {
    r = await http('GET', `/api/jobs/${held[0]}`, undefined, bearer(capped));
    if (r.body.status === 'cancelled') break;
    await sleep(100);
  }
  check(r.body.status === 'cancelled', `the cancelled job: ${r.text}`);
  r = await submit({});
  check(r.status === 202, `after a job ended: ${r.status} ${r.text}`);
  for (const id of held.slice(1)) await http('POST', `/api/jobs/${id}/cancel`, {}, bearer(capped));
  await watch.close();
  console.log(`quotas: flood ${ok} accepted / ${limited} limited in ${secs.toFixed(1)} s, the other token 10/10 ` +
    `(submit median ${median(alone).toFixed(1)} ms alone, ${median(during).toFixed(1)} ms during the flood); cap, size, duration, ws rate`);
});
