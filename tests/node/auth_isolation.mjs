// A token for session A never receives an event of session B: three clients (A over JSON, A over
// MessagePack with deflate, B over JSON) say READY, the test then emits ZSA_EVENTS events into
// each session, interleaved, and a processing_complete of job "end" into each; every client must
// get exactly its own session's events, in order, and nothing of the other.
import { Client, check, keys, mint, run } from './lib.mjs';

const N = Number(process.env.ZSA_EVENTS || 2000);
const k1 = keys().k1;
const tok = (s) => mint('k1', k1, { sessions: [s], scope: ['read'] });

const sid = (id) => id.split('-').map(BigInt);
const after = (x, y) => { const [a, b] = sid(x), [c, d] = y ? sid(y) : [0n, 0n]; return a > c || (a === c && b > d); };

run(async () => {
  const clients = [
    ['A', new Client(`?session_id=A&token=${tok('A')}`)],
    ['A', new Client('?session_id=A', { msgpack: true, deflate: true })],
    ['B', new Client(`?session_id=B&token=${tok('B')}`)],
  ];
  await clients[1][1].opened;
  clients[1][1].send({ type: 'auth', token: tok('A') }); // in MessagePack
  for (const [, c] of clients) await c.type('connected');
  console.log('READY');
  const counts = await Promise.all(clients.map(async ([s, c]) => {
    let n = 0, last = '';
    for (;;) {
      const m = await c.next((x) => x.job_id !== undefined, 60000, `events of ${s}`);
      check(m.session_id === s, `a client of ${s} got an event of ${m.session_id}: ${JSON.stringify(m)}`);
      check(after(m.event_id, last), `out of order: ${m.event_id} after ${last}`);
      last = m.event_id;
      if (m.job_id === 'end') break;
      n++;
    }
    await c.close();
    return n;
  }));
  check(counts.every((n) => n === N), `events per client: ${counts} (want ${N} each)`);
  console.log(`isolation: ${counts.join(' + ')} events, none of the other session`);
});
