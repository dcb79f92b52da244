// A session_id that is not valid is refused with 400 and the JSON error, whatever its length
// (129 .. 10,000 characters included: they were silently replaced by a generated session); a
// valid one of the maximal length is kept exactly.
import { Client, check, run, http } from './lib.mjs';

async function refused(sid) {
  const c = new Client('?session_id=' + encodeURIComponent(sid));
  try {
    await c.opened;
  } catch (e) {
    check(e.status === 400, `session_id of ${sid.length} chars: HTTP ${e.status} ${e.body ?? e.message}`);
    const body = JSON.parse(e.body);
    check(body.error && body.error.code === 'INVALID_SESSION', `session_id of ${sid.length} chars: ${e.body}`);
    return;
  }
  const m = await c.type('connected');
  await c.close();
  throw new Error(`session_id "${sid.slice(0, 40)}..." (${sid.length} chars) was accepted as ${m.session_id}`);
}

run(async () => {
  const bad = ['', '.', '..', '.hidden', 'a b', 'a/b', 'ü', 'a*'];
  for (const n of [129, 130, 132, 200, 1000, 3000]) bad.push('a'.repeat(n));
  for (const sid of bad) await refused(sid);

  const max = 'S'.repeat(128);
  const c = new Client('?session_id=' + max);
  const m = await c.type('connected');
  check(m.session_id === max, `128-character session became ${m.session_id}`);
  await c.close();

  // REST: the demo route's session_id, likewise
  for (const sid of ['a'.repeat(300), '..']) {
    const r = await http('POST', `/demo/simulate-analysis/img1?session_id=${encodeURIComponent(sid)}`);
    check(r.status === 400 && r.body?.error?.code === 'INVALID_SESSION', `REST session_id of ${sid.length}: ${r.status} ${r.text}`);
  }
  console.log(`ok: ${bad.length} invalid session ids refused with 400, a 128-character one kept`);
});
