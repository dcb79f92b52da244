// Replay is honest about what it covers: a session client that reconnects with last_event_id gets
// the session's missed events and replay_complete naming the streams replayed (["session"]), so
// count 0 is never read as "nothing was missed" for broadcast events (jobs without a session,
// the seed's demo route) that happened meanwhile and are not replayed.
import { Client, check, run, http } from './lib.mjs';

const done = (c, job) => c.next((m) => (m.event_type === 'processing_complete' || m.event_type === 'processing_failed') && m.job_id === job, 20000, `the end of ${job}`);

run(async () => {
  const a = new Client('?session_id=rp1');
  await a.type('connected');
  let r = await http('POST', '/api/jobs', { job_id: 'rp-a', image_id: 'i', algorithm: 'simulate', session_id: 'rp1', parameters: { duration_seconds: 0.1 } });
  check(r.status === 202, `submit: ${r.status} ${r.text}`);
  const last = (await done(a, 'rp-a')).event_id;
  await a.close();

  // while it is away: one job of its session, one broadcast job (the demo route without session)
  r = await http('POST', '/api/jobs', { job_id: 'rp-b', image_id: 'i', algorithm: 'simulate', session_id: 'rp1', parameters: { duration_seconds: 0.1 } });
  check(r.status === 202, `submit: ${r.status}`);
  r = await http('POST', '/demo/simulate-analysis/rp-img');
  check(r.status === 202, `demo: ${r.status} ${r.text}`);
  const watcher = new Client('?session_id=rp-watch');
  await watcher.type('connected');
  await done(watcher, r.body.job_id); // the broadcast job ended
  for (;;) { // and so did rp-b
    const j = await http('GET', '/api/jobs/rp-b');
    if (j.body.status === 'complete') break;
    await new Promise((ok) => setTimeout(ok, 50));
  }

  const b = new Client(`?session_id=rp1&last_event_id=${last}`);
  const conn = await b.type('connected');
  check(conn.resumed === true, `connected: ${JSON.stringify(conn)}`);
  const rc = await b.type('replay_complete');
  check(Array.isArray(rc.streams) && rc.streams.length === 1 && rc.streams[0] === 'session',
    `replay_complete must name what it replayed: ${JSON.stringify(rc)}`);
  const replayed = b.inbox.filter((m) => m.job_id === 'rp-b');
  check(rc.count === replayed.length && rc.count >= 3, `count ${rc.count}, rp-b events ${replayed.length}`);
  check(!b.inbox.some((m) => m.job_id === r.body.job_id), 'a broadcast job was replayed into the session');
  await b.close();
  await watcher.close();
  console.log(`ok: replay_complete ${JSON.stringify(rc)}`);
});
