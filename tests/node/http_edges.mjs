// What the gateway answers at the edges of HTTP and WebSocket, as a client that is not ours sees
// it: an oversized request head gets 431 with the JSON error (not a bare close, and counted in
// /metrics instead of an error log line), an unknown method 501, CONNECT 405, Content-Length with
// Transfer-Encoding or a Content-Length that is not a number 400 — always JSON, never lws's
// HTML; HEAD gets a GET's head and no body; a text message that is not UTF-8 closes with 1007; a client silent past
// --idle-timeout-s (ZSA_IDLE_TIMEOUT_S) gets a close frame 1001 saying so.
import net from 'node:net';
import { Client, GATEWAY, check, run, http, deadline } from './lib.mjs';

const [host, port] = GATEWAY.split(':');

function raw(request, ms = 5000) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port: Number(port) }, () => s.write(request));
    let data = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error(`no answer in ${ms} ms to ${JSON.stringify(request.slice(0, 60))} (got ${JSON.stringify(data)})`)); }, ms);
    s.on('data', (d) => {
      data += d;
      const head = data.indexOf('\r\n\r\n');
      const m = /content-length: *(\d+)/i.exec(data);
      if (head >= 0 && m && data.length >= head + 4 + Number(m[1])) { clearTimeout(t); s.destroy(); resolve(parse(data)); }
    });
    let err = '';
    s.on('close', () => { clearTimeout(t); resolve(parse(data + err)); });
    s.on('error', (e) => { err = ` <${e.code || e.message}>`; });
  });
}

function parse(data) {
  const status = Number(/^HTTP\/1\.[01] (\d+)/.exec(data)?.[1] || 0);
  const head = data.indexOf('\r\n\r\n');
  const ctype = /content-type: *([^\r\n]+)/i.exec(data)?.[1] || '';
  let body;
  try { body = JSON.parse(data.slice(head + 4)); } catch { body = undefined; }
  return { status, ctype, body, data };
}

function expect(r, status, code, what) {
  check(r.status === status && /application\/json/.test(r.ctype) && r.body?.error?.code === code,
    `${what}: wanted ${status} ${code} as JSON, got ${JSON.stringify(r.data.slice(0, 300))}`);
}

run(async () => {
  const before = (await http('GET', '/metrics')).text;
  const count = (text, name) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] || 0);

  expect(await raw(`GET /healthz?pad=${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, 'HEADERS_TOO_LARGE', 'a 20 KB request line');
  let many = 'GET /healthz HTTP/1.1\r\nHost: x\r\n';
  for (let i = 0; i < 100; i++) many += `X-Pad-${i}: ${'v'.repeat(200)}\r\n`;
  expect(await raw(many + '\r\n'), 431, 'HEADERS_TOO_LARGE', '20 KB of headers');
  expect(await raw('BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n'), 501, 'NOT_IMPLEMENTED', 'an unknown method');
  expect(await raw('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'), 405, 'METHOD_NOT_ALLOWED', 'CONNECT');
  expect(await raw('POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), 400, 'BAD_REQUEST', 'Content-Length with Transfer-Encoding');
  expect(await raw('POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'), 400, 'BAD_REQUEST', 'Content-Length -1');
  expect(await raw('POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n'), 400, 'BAD_REQUEST', 'Content-Length ten');
  expect(await raw('DELETE /api/jobs/x HTTP/1.1\r\nHost: x\r\n\r\n'), 405, 'METHOD_NOT_ALLOWED', 'DELETE');
  // HEAD: the status and headers of a GET (Content-Length included) and not one byte of body: the
  // next answer on the connection starts right after the head
  const two = await new Promise((resolve, reject) => {
    const s = net.connect({ host, port: Number(port) }, () =>
      s.write('HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let data = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error(`HEAD then GET: ${JSON.stringify(data)}`)); }, 5000);
    s.on('data', (d) => { data += d; });
    s.on('close', () => { clearTimeout(t); resolve(data); });
  });
  const heads = two.split('\r\n\r\n');
  check(/^HTTP\/1\.1 200/.test(heads[0]) && /content-length: *16\b/i.test(heads[0]) && /^HTTP\/1\.1 200/.test(heads[1])
    && heads[2].trim() === '{"status":"ok"}' && heads.length === 3, `HEAD then GET on one connection: ${JSON.stringify(two)}`);
  // the same checks on a kept-alive connection's second request (lws parses that one)
  const ka = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n');
  check(ka.status === 200, `keep-alive first answer: ${ka.data.slice(0, 100)}`);

  const after = (await http('GET', '/metrics')).text;
  check(count(after, 'zsa_gateway_oversized_heads_total') - count(before, 'zsa_gateway_oversized_heads_total') === 2, 'oversized heads were not counted');
  check(count(after, 'zsa_gateway_bad_requests_total') - count(before, 'zsa_gateway_bad_requests_total') >= 7, 'bad requests were not counted');

  // WebSocket: a text message that is not UTF-8
  const u = new Client('?session_id=edges');
  await u.type('connected');
  u.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
  const cu = await deadline(u.closed, 5000, 'the 1007 close');
  check(cu.code === 1007, `invalid UTF-8: closed ${cu.code} ${cu.reason}`);

  // a client that answers nothing (its socket is not read, so no pong either) is closed; one that
  // sends nothing but answers the gateway's pings (as browsers and ws do by themselves) is not
  const idle = Number(process.env.ZSA_IDLE_TIMEOUT_S);
  const quiet = new Client('?session_id=edges');
  await quiet.type('connected');
  const s = new Client('?session_id=edges');
  await s.type('connected');
  s.ws._socket.pause();
  await new Promise((ok) => setTimeout(ok, (idle + 2) * 1000));
  s.ws._socket.resume();
  const cs = await deadline(s.closed, 10000, 'the idle close');
  check(cs.code === 1001 && /idle/.test(cs.reason), `idle: closed ${cs.code} "${cs.reason}"`);
  check(!quiet.closeInfo, `a client that answers pings was closed: ${JSON.stringify(quiet.closeInfo)}`);
  await quiet.close();
  console.log(`ok: 431 x2, 501, 405 x2, 400 x3 as JSON and counted; 1007 "${cu.reason}"; idle 1001 "${cs.reason}"`);
});
