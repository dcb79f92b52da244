// Cross-site use: a page of another site cannot open a WebSocket here (403 ORIGIN_NOT_ALLOWED),
// change anything over REST (403), nor send what an HTML form can send (415); a site listed in
// --allowed-origins (ZSA_ALLOWED_ORIGIN) gets CORS answers, preflight included; pages the
// gateway serves itself and clients that are not browsers (no Origin) are unaffected; the
// dashboard comes with a CSP that allows only its own script and style, and no framing.
import http from 'node:http';
import { Client, GATEWAY, check, run } from './lib.mjs';

const [host, port] = GATEWAY.split(':');
const allowed = process.env.ZSA_ALLOWED_ORIGIN;

function req(method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host, port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, body: json });
      });
    });
    r.on('error', reject);
    if (body !== undefined) r.end(body); else r.end();
  });
}

async function upgrade(origin) {
  const c = new Client('?session_id=orig', { ws: origin ? { origin } : {} });
  try {
    await c.opened;
  } catch (e) {
    return { status: e.status, body: e.body };
  }
  await c.type('connected');
  await c.close();
  return { status: 101 };
}

run(async () => {
  let u = await upgrade('http://evil.example');
  check(u.status === 403 && JSON.parse(u.body).error.code === 'ORIGIN_NOT_ALLOWED', `evil upgrade: ${u.status} ${u.body}`);
  for (const o of [undefined, `http://${GATEWAY}`, allowed]) {
    u = await upgrade(o);
    check(u.status === 101, `upgrade with Origin ${o}: ${u.status} ${u.body}`);
  }

  const json = { 'content-type': 'application/json' };
  let r = await req('POST', '/api/jobs', { ...json, origin: 'http://evil.example' }, '{"image_id":"a","algorithm":"simulate"}');
  check(r.status === 403 && r.body?.error?.code === 'ORIGIN_NOT_ALLOWED', `evil submit: ${r.status} ${r.text}`);
  r = await req('POST', '/api/jobs/x/cancel', { origin: 'http://evil.example' });
  check(r.status === 403, `evil cancel without a body: ${r.status} ${r.text}`);
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    r = await req('POST', '/api/jobs', { 'content-type': ct }, '{"image_id":"a","algorithm":"simulate"}');
    check(r.status === 415 && r.body?.error?.code === 'UNSUPPORTED_MEDIA_TYPE', `${ct}: ${r.status} ${r.text}`);
  }
  r = await req('POST', '/api/jobs', { ...json, origin: `http://${GATEWAY}` }, '{"image_id":"a","algorithm":"simulate"}');
  check(r.status === 202, `same-origin submit: ${r.status} ${r.text}`);
  r = await req('POST', '/api/jobs', { ...json, origin: allowed }, '{"image_id":"a","algorithm":"simulate"}');
  check(r.status === 202 && r.headers['access-control-allow-origin'] === allowed, `listed submit: ${r.status} ${JSON.stringify(r.headers)}`);

  r = await req('OPTIONS', '/api/jobs', { origin: 'http://evil.example', 'access-control-request-method': 'POST' });
  check(r.status === 403, `evil preflight: ${r.status}`);
  r = await req('OPTIONS', '/api/jobs', { origin: allowed, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' });
  check(r.status === 204 && r.headers['access-control-allow-origin'] === allowed &&
    /POST/.test(r.headers['access-control-allow-methods']) && /Content-Type/i.test(r.headers['access-control-allow-headers']),
    `listed preflight: ${r.status} ${JSON.stringify(r.headers)}`);
  r = await req('GET', '/healthz', { origin: 'http://evil.example' });
  check(r.status === 200 && !r.headers['access-control-allow-origin'], 'a refused origin got CORS headers');

  r = await req('GET', '/');
  const csp = r.headers['content-security-policy'] || '';
  check(/script-src 'sha256-[A-Za-z0-9+/]+=*'/.test(csp) && !/unsafe-inline/.test(csp) && /frame-ancestors 'none'/.test(csp),
    `dashboard CSP: ${csp}`);
  check(r.headers['x-content-type-options'] === 'nosniff' && r.headers['x-frame-options'] === 'DENY', `dashboard headers: ${JSON.stringify(r.headers)}`);
  console.log('ok: cross-site upgrade, mutations, form content types and preflight refused; listed origin served with CORS; CSP ' + csp.slice(0, 60) + '...');
});
