// Access control with tokens minted here from docs/PROTOCOL.md (Node's crypto, not our C code):
// every REST route and the WebSocket without a token, with a malformed one, a forged one, an
// expired one, one for another session and one without the route's scope; the two ways a
// WebSocket carries its token (an auth message first, ?token=); expiry closes 4001 unless the client sends a fresh token; a key
// withdrawn on SIGHUP closes its clients and its tokens stop working, a key added works; the
// artifacts' download links open their one file without a token, until they expire, and nothing else.
// Environment: ZSA_GATEWAY, ZSA_KEYS_FILE (the gateway's --auth-keys-file, one key "k1" at the
// start; this script rewrites it), ZSA_GATEWAY_PID (for SIGHUP), ZSA_RESULT_A / ZSA_RESULT_B
// (results stored for jobs of sessions A and B), ZSA_PREVIEW_A (the bytes of A's preview.png).
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Client, check, http, keys, mint, run } from './lib.mjs';

const KEYS_FILE = process.env.ZSA_KEYS_FILE;
const PID = Number(process.env.ZSA_GATEWAY_PID);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Math.floor(Date.now() / 1000);

const k1 = keys().k1;
check(k1, `no key k1 in ${KEYS_FILE}`);
const ALL = ['read', 'submit', 'control', 'admin'];
const tok = (claims, kid = 'k1', secret = k1) => mint(kid, secret, { sessions: ['A'], scope: ALL, ...claims });
const bearer = (t) => (t ? { authorization: `Bearer ${t}` } : {});

async function upgrade(query, opts) {
  const c = new Client(query, opts);
  try {
    await c.opened;
  } catch (e) {
    return { status: e.status, body: e.body ? JSON.parse(e.body) : undefined };
  }
  return { status: 101, c };
}

run(async () => {
  // ---- REST: every route ----
  let r = await http('POST', '/api/jobs', { image_id: 'a1', algorithm: 'simulate', session_id: 'A' }, bearer(tok({})));
  check(r.status === 202, `submit A: ${r.status} ${r.text}`);
  const jobA = r.body.job_id;
  r = await http('POST', '/api/jobs', { image_id: 'b1', algorithm: 'simulate', session_id: 'B' }, bearer(tok({ sessions: ['B'] })));
  check(r.status === 202, `submit B: ${r.status} ${r.text}`);
  const jobB = r.body.job_id;

  const routes = [
    ['GET', `/api/jobs/${jobA}`, 'read'],
    ['POST', '/api/jobs', 'submit', { image_id: 'a2', algorithm: 'simulate', session_id: 'A' }],
    ['POST', `/api/jobs/${jobA}/cancel`, 'control', {}],
    ['POST', `/api/jobs/${jobA}/retry`, 'control', {}],
    ['GET', `/api/results/${process.env.ZSA_RESULT_A}`, 'read'],
    ['GET', `/api/results/${process.env.ZSA_RESULT_A}/artifacts`, 'read'],
    ['GET', `/api/results/${process.env.ZSA_RESULT_A}/artifacts/preview.png`, 'read'],
    ['GET', '/api/sessions/A/jobs', 'read'],
    ['POST', '/demo/simulate-analysis/img1?session_id=A', 'submit'],
    ['GET', '/api/dead', 'admin'],
    ['POST', '/api/dead/nosuch/requeue', 'admin', {}],
    ['POST', '/api/dead/nosuch/purge', 'admin', {}],
    ['GET', '/ws/stats', 'admin'],
    ['GET', '/metrics', 'admin'],
  ];
  const forged = mint('k1', crypto.randomBytes(32).toString('base64url'), { sessions: ['A'], scope: ALL });
  const expired = tok({ exp: now() - 5 });
  for (const [method, path, scope, body] of routes) {
    const what = `${method} ${path}`;
    for (const [name, t] of [['no token', null], ['malformed', 'abc'], ['forged', forged], ['expired', expired],
      ['tampered', tok({}).replace(/^v1\.[A-Za-z0-9_-]{4}/, 'v1.AAAA')]]) {
      r = await http(method, path, body, bearer(t));
      check(r.status === 401 && r.body?.error?.code === 'UNAUTHORIZED', `${what} ${name}: ${r.status} ${r.text}`);
      check((r.headers.get('www-authenticate') || '').startsWith('Bearer'), `${what} ${name}: no WWW-Authenticate`);
    }
    check(/expired/.test((await http(method, path, body, bearer(expired))).body.error.message), `${what}: expiry not said`);
    r = await http(method, path, body, bearer(tok({ scope: ALL.filter((s) => s !== scope) })));
    check(r.status === 403 && r.body?.error?.code === 'FORBIDDEN' && r.body.error.message.includes(scope),
      `${what} without ${scope}: ${r.status} ${r.text}`);
    r = await http(method, path, body, bearer(tok({ scope: [scope] })));
    check(r.status !== 401 && r.status !== 403, `${what} with ${scope}: ${r.status} ${r.text}`);
  }
  for (const path of ['/', '/healthz', '/readyz']) {
    r = await http('GET', path);
    check(r.status === 200, `public ${path}: ${r.status}`);
  }

  // ---- download links (docs/PROTOCOL.md: l1.<exp>.<kid>.<mac over "l1.<exp>.<kid>\n<path>">) ----
  const RA = process.env.ZSA_RESULT_A, RB = process.env.ZSA_RESULT_B;
  const file = `/api/results/${RA}/artifacts/preview.png`;
  r = await http('GET', `/api/results/${RA}/artifacts`, undefined, bearer(tok({ scope: ['read'] })));
  const listed = r.body?.artifacts?.[0]?.download_url || '';
  check(r.status === 200 && listed.startsWith(`${file}?download=1&link=l1.`), `the list's download_url: ${r.status} ${r.text}`);
  const got = await http('GET', listed);
  check(got.status === 200 && got.headers.get('content-type') === 'image/png' && got.text === process.env.ZSA_PREVIEW_A,
    `the listed link, no token: ${got.status} ${got.text}`);
  const link = (path, exp, kid = 'k1', secret = k1) =>
    `l1.${exp}.${kid}.${crypto.createHmac('sha256', Buffer.from(secret, 'base64url')).update(`l1.${exp}.${kid}\n${path}`).digest('base64url')}`;
  r = await http('GET', `${file}?link=${link(file, now() + 60)}`); // made here, from the document
  check(r.status === 200 && r.text === process.env.ZSA_PREVIEW_A, `a link minted by the spec: ${r.status} ${r.text}`);
  r = await http('HEAD', `${file}?link=${link(file, now() + 60)}`);
  check(r.status === 200, `HEAD with a link: ${r.status}`);
  const l = listed.split('link=')[1];
  for (const [what, path] of [
    ['expired', `${file}?link=${link(file, now() - 1)}`],
    ['for another file', `/api/results/${RB}/artifacts/preview.png?link=${l}`],
    ['on the result itself', `/api/results/${RA}?link=${l}`],
    ['on the list', `/api/results/${RA}/artifacts?link=${l}`],
    ['with a later exp written in', `${file}?link=${l.replace(/^l1\.(\d+)/, (m, e) => `l1.${Number(e) + 3600}`)}`],
    ['signed with a key we do not hold', `${file}?link=${link(file, now() + 60, 'k1', crypto.randomBytes(32).toString('base64url'))}`],
    ['an access token', `${file}?link=${tok({})}`],
    ['malformed', `${file}?link=l1.x`]]) {
    r = await http('GET', path);
    check(r.status === 401 && r.body?.error?.code === 'UNAUTHORIZED', `a link ${what}: ${r.status} ${r.text}`);
  }
  check(/expired/.test((await http('GET', `${file}?link=${link(file, now() - 1)}`)).body.error.message), 'link expiry not said');
  r = await http('GET', file, undefined, bearer(l));
  check(r.status === 401, `a link as a bearer token: ${r.status} ${r.text}`);
  r = await http('POST', `/api/jobs?link=${l}`, { image_id: 'x', algorithm: 'simulate', session_id: 'A' });
  check(r.status === 401, `a POST with a link: ${r.status} ${r.text}`);

  // ---- REST: sessions ----
  const a = tok({});
  r = await http('GET', '/api/sessions/B/jobs', undefined, bearer(a));
  check(r.status === 403 && r.body.error.code === 'FORBIDDEN', `A reads B's history: ${r.status} ${r.text}`);
  r = await http('POST', '/api/jobs', { image_id: 'x', algorithm: 'simulate', session_id: 'B' }, bearer(a));
  check(r.status === 403 && r.body.error.field === 'session_id', `A submits into B: ${r.status} ${r.text}`);
  for (const [m, p] of [['GET', `/api/jobs/${jobB}`], ['POST', `/api/jobs/${jobB}/cancel`], ['POST', `/api/jobs/${jobB}/retry`],
    ['GET', `/api/results/${process.env.ZSA_RESULT_B}`], ['GET', `/api/results/${process.env.ZSA_RESULT_B}/artifacts`],
    ['GET', `/api/results/${process.env.ZSA_RESULT_B}/artifacts/preview.png`]]) {
    r = await http(m, p, m === 'POST' ? {} : undefined, bearer(a));
    check(r.status === 404, `A's token on ${m} ${p} (session B): ${r.status} ${r.text}`);
  }
  r = await http('GET', `/api/jobs/${jobB}`, undefined, bearer(tok({ sessions: ['B'] })));
  check(r.status === 200 && r.body.session_id === 'B', `B reads its job: ${r.status} ${r.text}`);
  r = await http('GET', `/api/results/${process.env.ZSA_RESULT_A}`, undefined, bearer(a));
  check(r.status === 200 && r.body.session_id === 'A', `A reads its result: ${r.status} ${r.text}`);
  const prefix = tok({ sessions: ['lab1:*'] });
  r = await http('GET', '/api/sessions/lab1:x/jobs', undefined, bearer(prefix));
  check(r.status === 200, `prefix lab1:* reads lab1:x: ${r.status} ${r.text}`);
  r = await http('GET', '/api/sessions/lab2:x/jobs', undefined, bearer(prefix));
  check(r.status === 403, `prefix lab1:* reads lab2:x: ${r.status} ${r.text}`);
  r = await http('POST', '/api/jobs', { image_id: 'x', algorithm: 'simulate' }, bearer(a));
  check(r.status === 202, `A submits without session_id: ${r.status} ${r.text}`);
  r = await http('GET', `/api/jobs/${r.body.job_id}`, undefined, bearer(a));
  check(r.body.session_id === 'A', `the token's only session was filled in: ${r.text}`);
  r = await http('POST', '/api/jobs', { image_id: 'x', algorithm: 'simulate' }, bearer(prefix));
  check(r.status === 400 && r.body.error.code === 'SESSION_REQUIRED', `prefix token, no session_id: ${r.status} ${r.text}`);

  // ---- WebSocket: the three ways in, and the refusals ----
  let u = await upgrade(`?session_id=A&token=${a}`);
  check(u.status === 101, `?token=: ${u.status}`);
  let m = await u.c.type('connected');
  check(m.session_id === 'A' && m.token_expires_at, `connected: ${JSON.stringify(m)}`);
  await u.c.close();
  u = await upgrade(`?token=${a}`);
  check((await u.c.type('connected')).session_id === 'A', 'no session_id: the token\'s only one');
  await u.c.close();
  // a token as a subprotocol is refused with a reason (libwebsockets 4.1 cannot take one)
  u = await upgrade('?session_id=A', { protocols: ['zsa.v1.json', `zsa.token.${a}`] });
  check(u.status === 400 && /auth message/.test(u.body?.error?.message), `token as subprotocol: ${u.status} ${JSON.stringify(u.body)}`);
  for (const [name, q, status] of [['A token, session B', `?session_id=B&token=${a}`, 403],
    ['expired', `?session_id=A&token=${expired}`, 401], ['forged', `?session_id=A&token=${forged}`, 401],
    ['no read scope', `?session_id=A&token=${tok({ scope: ['submit'] })}`, 403],
    ['several sessions, none named', `?token=${tok({ sessions: ['A', 'B'] })}`, 403]]) {
    u = await upgrade(q);
    check(u.status === status, `${name}: ${u.status} ${JSON.stringify(u.body)}`);
  }
  // first message auth, JSON and MessagePack
  for (const msgpack of [false, true]) {
    const c = new Client('?session_id=A', { msgpack });
    await c.opened;
    c.send({ type: 'auth', token: a });
    m = await c.next();
    check(m.event_type === 'authenticated' && m.subject === 'node-test' && m.scopes.includes('control'), `authenticated: ${JSON.stringify(m)}`);
    check((await c.next()).event_type === 'connected', 'connected after authenticated');
    await c.close();
  }
  for (const [name, first, code] of [['a ping first', { type: 'ping' }, 4001], ['a forged token', { type: 'auth', token: forged }, 4001],
    ['A token for session B', { type: 'auth', token: a }, 4003]]) {
    const c = new Client(name.includes('session B') ? '?session_id=B' : '?session_id=A');
    await c.opened;
    c.send(first);
    const cl = await c.closed;
    check(cl.code === code, `${name}: closed ${cl.code} ${cl.reason}`);
  }
  let c = new Client('?session_id=A');
  await c.opened;
  let t0 = Date.now();
  let cl = await c.closed; // --auth-timeout-s=1
  check(cl.code === 4001 && Date.now() - t0 < 3000, `no auth message: ${cl.code} ${cl.reason} after ${Date.now() - t0} ms`);

  // ---- expiry, and a fresh token in time ----
  c = new Client(`?session_id=A&token=${tok({ exp: now() + 2 })}`);
  await c.type('connected');
  cl = await c.closed;
  check(cl.code === 4001 && /expired/.test(cl.reason), `expiry: ${cl.code} ${cl.reason}`);
  // (5 s of validity, not 2: a loaded machine may take over a second for the round trips
  // before the fresh token arrives; then wait until well past the first token's expiry)
  const exp = now() + 5;
  c = new Client(`?session_id=A&token=${tok({ exp })}`);
  await c.type('connected');
  c.send({ type: 'auth', token: tok({ sessions: ['B'] }) });
  check((await c.type('error')).code === 'FORBIDDEN', 'a fresh token for another session is refused');
  c.send({ type: 'auth', token: tok({ exp: now() + 60 }) });
  await c.type('authenticated');
  await sleep(exp * 1000 - Date.now() + 1500);
  c.send({ type: 'ping' });
  await c.type('pong');
  await c.close();

  // ---- control over the WebSocket ----
  c = new Client(`?session_id=A&token=${tok({ scope: ['read'] })}`);
  await c.type('connected');
  c.send({ type: 'cancel', job_id: jobA });
  check((await c.type('error')).code === 'FORBIDDEN', 'cancel without control');
  await c.close();
  c = new Client(`?session_id=A&token=${a}`);
  await c.type('connected');
  c.send({ type: 'cancel', job_id: jobB });
  check((await c.type('error')).code === 'UNKNOWN_JOB', 'cancel of session B\'s job from A');
  await c.close();

  // ---- rotation: add k2, then withdraw k1 ----
  const k2 = crypto.randomBytes(32).toString('base64url');
  fs.writeFileSync(KEYS_FILE, `k1 ${k1}\nk2 ${k2}\n`);
  process.kill(PID, 'SIGHUP');
  const b2 = mint('k2', k2, { sessions: ['A'], scope: ALL });
  for (let i = 0; i < 50 && (await http('GET', '/api/sessions/A/jobs', undefined, bearer(b2))).status !== 200; i++) await sleep(100);
  r = await http('GET', '/api/sessions/A/jobs', undefined, bearer(b2));
  check(r.status === 200, `k2 after SIGHUP: ${r.status} ${r.text}`);
  const old = new Client(`?session_id=A&token=${a}`);
  await old.type('connected');
  fs.writeFileSync(KEYS_FILE, `# k1 withdrawn\nk2 ${k2}\n`);
  process.kill(PID, 'SIGHUP');
  cl = await old.closed;
  check(cl.code === 4001 && /withdrawn/.test(cl.reason), `k1 client after withdrawal: ${cl.code} ${cl.reason}`);
  r = await http('GET', '/api/sessions/A/jobs', undefined, bearer(a));
  check(r.status === 401, `k1 token after withdrawal: ${r.status}`);
  r = await http('GET', '/api/sessions/A/jobs', undefined, bearer(b2));
  check(r.status === 200, `k2 token after withdrawal: ${r.status}`);
  // the same kid with another secret: its tokens and connections go too
  const k2b = crypto.randomBytes(32).toString('base64url');
  const on2 = new Client(`?session_id=A&token=${b2}`);
  await on2.type('connected');
  fs.writeFileSync(KEYS_FILE, `k2 ${k2b}\n`);
  process.kill(PID, 'SIGHUP');
  cl = await on2.closed;
  check(cl.code === 4001 && /withdrawn/.test(cl.reason), `k2 client after its secret changed: ${cl.code} ${cl.reason}`);
  r = await http('GET', '/api/sessions/A/jobs', undefined, bearer(b2));
  check(r.status === 401, `old-secret k2 token: ${r.status}`);
  const b2b = mint('k2', k2b, { sessions: ['A'], scope: ALL });
  r = await http('GET', '/api/sessions/A/jobs', undefined, bearer(b2b));
  check(r.status === 200, `new-secret k2 token: ${r.status}`);
  // a broken keys file keeps the keys that work
  fs.writeFileSync(KEYS_FILE, 'k3 tooshort\n');
  process.kill(PID, 'SIGHUP');
  await sleep(300);
  r = await http('GET', '/api/sessions/A/jobs', undefined, bearer(b2b));
  check(r.status === 200, `k2 after a bad keys file: ${r.status}`);
  // the refusals are counted
  r = await http('GET', '/metrics', undefined, bearer(b2b));
  const metric = (name) => Number((r.text.match(new RegExp(`^${name} (\\d+)$`, 'm')) || [])[1]);
  check(metric('zsa_gateway_auth_refused_total') >= routes.length * 5, `refused: ${metric('zsa_gateway_auth_refused_total')}`);
  check(metric('zsa_gateway_auth_forbidden_total') >= routes.length, `forbidden: ${metric('zsa_gateway_auth_forbidden_total')}`);
  check(metric('zsa_gateway_auth_expired_total') === 1, `expired: ${metric('zsa_gateway_auth_expired_total')}`);
  console.log(`auth: ${routes.length} routes x 7 token cases, 8 WebSocket refusals, expiry, refresh, rotation`);
});
