// Redis hangs (SIGSTOP: no RST, no answer) in the middle of a job, then comes back (SIGCONT).
// While it hangs, the gateway answers within its --redis-timeout-ms (ZSA_REDIS_TIMEOUT_MS):
// /readyz 503, REST 503 UNAVAILABLE with the JSON error, a WebSocket cancel gets an error, and
// every client is told backend_status {available: false}; once it is back, {available: true},
// the job's events go on, and a POST retried with the same job_id creates nothing twice.
import { Client, check, run, http, deadline } from './lib.mjs';

const pid = Number(process.env.ZSA_REDIS_PID);
const timeoutMs = Number(process.env.ZSA_REDIS_TIMEOUT_MS || 2000);
check(pid > 0, 'ZSA_REDIS_PID is not set');
const job = (id, seconds) => ({ job_id: id, image_id: 'img', algorithm: 'simulate', session_id: 'hung',
  parameters: { duration_seconds: seconds, steps: 20 } });

async function timed(p) {
  const t0 = Date.now();
  const r = await p;
  return { ...r, ms: Date.now() - t0 };
}

run(async () => {
  const c = new Client('?session_id=hung');
  await c.type('connected');
  let r = await http('POST', '/api/jobs', job('hung-1', 4));
  check(r.status === 202, `submit: ${r.status} ${r.text}`);
  await c.next((m) => m.event_type === 'processing_progress' && m.job_id === 'hung-1', 15000, 'progress of hung-1');

  process.kill(pid, 'SIGSTOP');
  try {
    const limit = timeoutMs + 3000; // the deadline, its probe period and scheduling slack
    r = await timed(http('GET', '/readyz'));
    check(r.status === 503 && r.body?.ready === false, `readyz while hung: ${r.status} ${r.text}`);
    check(r.ms < limit, `readyz answered after ${r.ms} ms`);
    const down = await c.next((m) => m.event_type === 'backend_status', limit, 'backend_status unavailable');
    check(down.available === false && down.message, `backend_status: ${JSON.stringify(down)}`);
    r = await timed(http('GET', '/api/jobs/hung-1'));
    check(r.status === 503 && r.body?.error?.code === 'UNAVAILABLE', `GET job while hung: ${r.status} ${r.text}`);
    check(r.ms < limit, `GET job answered after ${r.ms} ms`);
    r = await timed(http('POST', '/api/jobs', job('hung-2', 0.2)));
    check(r.status === 503 && r.body?.error?.code === 'UNAVAILABLE', `POST while hung: ${r.status} ${r.text}`);
    c.send({ type: 'cancel', job_id: 'hung-1' });
    const e = await c.next((m) => m.event_type === 'error', limit, 'the error for a cancel while hung');
    check(e.code === 'UNAVAILABLE', `cancel while hung: ${JSON.stringify(e)}`);
  } finally {
    process.kill(pid, 'SIGCONT');
  }

  const up = await c.next((m) => m.event_type === 'backend_status', 15000, 'backend_status available');
  check(up.available === true, `backend_status after SIGCONT: ${JSON.stringify(up)}`);
  await c.next((m) => m.event_type === 'processing_complete' && m.job_id === 'hung-1', 20000, 'hung-1 complete');
  // the POST that got 503 may or may not have reached Redis: retried with the same job_id it
  // is accepted once (202, or 200 duplicate when the first one did go through)
  r = await http('POST', '/api/jobs', job('hung-2', 0.2));
  const retried = r.status;
  check(r.status === 202 || (r.status === 200 && r.body.duplicate === true), `retried POST: ${r.status} ${r.text}`);
  const again = await http('POST', '/api/jobs', job('hung-2', 0.2));
  check(again.status === 200 && again.body.duplicate === true, `second retry: ${again.status} ${again.text}`);
  await c.next((m) => m.event_type === 'processing_started' && m.job_id === 'hung-2', 20000, 'hung-2 started');
  await c.next((m) => m.event_type === 'processing_complete' && m.job_id === 'hung-2', 20000, 'hung-2 complete');
  r = await http('GET', '/readyz');
  check(r.status === 200, `readyz after: ${r.status}`);
  await new Promise((ok) => setTimeout(ok, 1000)); // a second run of hung-2 would show by now
  const starts = c.inbox.filter((m) => m.event_type === 'processing_started' && m.job_id === 'hung-2');
  check(starts.length === 0, `hung-2 ran more than once: ${JSON.stringify(starts)}`);
  await c.close();
  console.log(`ok: hung ${timeoutMs} ms deadline held; back and consistent (the retried POST: ${retried})`);
});
