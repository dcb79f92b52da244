// One connection, several sessions (subscribe / unsubscribe, docs/PROTOCOL.md): a client of
// session m1 subscribes to m2 (with a replay of what m2 had) and gets the events of both,
// each once, and none of m3; a broadcast comes once, not once per session; after unsubscribe,
// m2's events stop; subscribing twice, to the own session, or past 16 is refused; MessagePack
// clients do the same.
import { Client, check, http, run } from './lib.mjs';

const sim = (job, session, extra = {}) => ({ job_id: job, image_id: job, algorithm: 'simulate', session_id: session,
  parameters: { duration_seconds: 0.2, steps: 4, ...extra } });
const end = (c, job) => c.next((m) => m.event_type === 'processing_complete' && m.job_id === job, 20000, `${job} to end`);

async function scenario(msgpack, tag) {
  const m1 = `${tag}m1`, m2 = `${tag}m2`, m3 = `${tag}m3`;
  // m2 has a past: a job before anyone follows it
  const w2 = new Client(`?session_id=${m2}`);
  await w2.type('connected');
  let r = await http('POST', '/api/jobs', sim(`${tag}old`, m2));
  check(r.status === 202, `submit: ${r.status} ${r.text}`);
  const oldEnd = await end(w2, `${tag}old`);
  await w2.close();

  const c = new Client(`?session_id=${m1}`, { msgpack });
  await c.type('connected');
  c.send({ type: 'subscribe', session_id: m2, last_event_id: '0-1' });
  const sub = await c.type('subscribed');
  check(sub.session_id === m2 && sub.resumed === true, `subscribed: ${JSON.stringify(sub)}`);
  const rc = await c.type('replay_complete');
  check(rc.session_id === m2 && rc.count >= 3 && !rc.truncated, `replay of ${m2}: ${JSON.stringify(rc)}`);
  const replayed = c.inbox.length; // (already taken by next(): count via the stream ids below)
  void replayed;
  // live: a job in each of the three sessions
  for (const [job, s] of [[`${tag}j1`, m1], [`${tag}j2`, m2], [`${tag}j3`, m3]]) {
    r = await http('POST', '/api/jobs', sim(job, s));
    check(r.status === 202, `submit ${job}: ${r.status}`);
  }
  await end(c, `${tag}j1`);
  await end(c, `${tag}j2`);
  // j3 (m3) ended too, by now or soon: wait for it through another client, then check nothing of it came
  const w3 = new Client(`?session_id=${m3}&last_event_id=0-1`);
  await w3.type('connected');
  await end(w3, `${tag}j3`);
  await w3.close();
  // a broadcast job: once on this connection
  r = await http('POST', `/demo/simulate-analysis/${tag}bc`);
  check(r.status === 202, `demo: ${r.status}`);
  const bcJob = r.body.job_id;
  await end(c, bcJob);
  await new Promise((ok) => setTimeout(ok, 300));
  check(!c.inbox.some((m) => m.job_id === `${tag}j3`), 'an event of a session not followed arrived');
  check(!c.inbox.some((m) => m.job_id === bcJob && m.event_type === 'processing_complete'),
    'a broadcast event arrived twice');
  // refusals
  c.send({ type: 'subscribe', session_id: m2 });
  check((await c.type('error')).code === 'INVALID_STATE', 'subscribing twice');
  c.send({ type: 'unsubscribe', session_id: m1 });
  check((await c.type('error')).code === 'INVALID_STATE', 'unsubscribing from the own session');
  for (let i = 0; i < 15; i++) c.send({ type: 'subscribe', session_id: `${tag}x${i}` });
  for (let i = 0; i < 15; i++) await c.type('subscribed');
  c.send({ type: 'subscribe', session_id: `${tag}x99` });
  check((await c.type('error')).code === 'LIMIT', 'a 17th subscription');
  // unsubscribe: m2's events stop, m1's go on
  c.send({ type: 'unsubscribe', session_id: m2 });
  check((await c.type('unsubscribed')).session_id === m2, 'unsubscribed');
  r = await http('POST', '/api/jobs', sim(`${tag}after2`, m2));
  r = await http('POST', '/api/jobs', sim(`${tag}after1`, m1));
  await end(c, `${tag}after1`);
  const w2b = new Client(`?session_id=${m2}&last_event_id=${oldEnd.event_id}`);
  await w2b.type('connected');
  await end(w2b, `${tag}after2`);
  await w2b.close();
  await new Promise((ok) => setTimeout(ok, 200));
  check(!c.inbox.some((m) => m.job_id === `${tag}after2`), 'an event of an unsubscribed session arrived');
  await c.close();
}

run(async () => {
  await scenario(false, 'mj');
  await scenario(true, 'mp');
  console.log('multi-room: subscribe with replay, isolation, one broadcast, refusals, unsubscribe (JSON and MessagePack)');
});
