// TLS in the gateway: https:// and wss:// (with permessage-deflate) against a certificate the
// test made, trusted through `ca`; a client that does not trust it is refused; plain HTTP on the
// TLS port gets no answer; on SIGHUP a renewed certificate (ZSA_CERT2/ZSA_KEY2, copied over the
// files the gateway was started with, ZSA_CERT/ZSA_KEY) is what new connections see, while a
// connection made before goes on; a key that does not match the certificate is not loaded.
// Environment: ZSA_GATEWAY, ZSA_GATEWAY_PID, ZSA_KEYS_FILE, ZSA_CERT, ZSA_KEY, ZSA_CERT2, ZSA_KEY2.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket, check, keys, mint, run } from './lib.mjs';

const [host, port] = (process.env.ZSA_GATEWAY || '').split(':');
const E = process.env;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fingerprint = (file) => new crypto.X509Certificate(fs.readFileSync(file)).fingerprint256;

function get(path, ca) {
  return new Promise((resolve, reject) => {
    https.get({ host, port, path, ca, servername: 'localhost' }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

function peerCert(ca) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port: Number(port), ca, servername: 'localhost' }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(c.fingerprint256);
    });
    s.on('error', reject);
  });
}

function wss(ca, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://${host}:${port}/ws?session_id=tls1&token=${token}`, { ca, perMessageDeflate: true });
    const inbox = [];
    ws.on('message', (d) => inbox.push(JSON.parse(d.toString())));
    ws.on('open', () => resolve({ ws, inbox }));
    ws.on('error', reject);
  });
}

async function until(pred, ms, what) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (pred()) return;
  throw new Error(`timed out waiting for ${what}`);
}

run(async () => {
  const ca1 = fs.readFileSync(E.ZSA_CERT), ca2 = fs.readFileSync(E.ZSA_CERT2);
  const token = mint('k1', keys().k1, { sessions: ['tls1'], scope: ['read'] });
  let r = await get('/readyz', ca1);
  check(r.status === 200 && JSON.parse(r.body).ready === true, `https /readyz: ${r.status} ${r.body}`);
  r = await get('/api/sessions/tls1/jobs', ca1);
  check(r.status === 401, `https without a token: ${r.status}`);

  const a = await wss(ca1, token);
  await until(() => a.inbox.some((m) => m.event_type === 'connected'), 10000, 'connected over wss');
  check(a.ws.extensions.includes('permessage-deflate'), `wss extensions: ${a.ws.extensions}`);
  a.ws.send(JSON.stringify({ type: 'ping' }));
  await until(() => a.inbox.some((m) => m.event_type === 'pong'), 10000, 'pong over wss');

  let refused = null;
  await get('/readyz', undefined).catch((e) => { refused = e.code; });
  check(refused, 'a client that does not trust the certificate was served');
  const plain = await new Promise((resolve) => {
    const s = net.connect(Number(port), host, () => s.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n'));
    let got = '';
    s.setTimeout(3000, () => s.destroy());
    s.on('data', (d) => { got += d; });
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
  check(!plain.startsWith('HTTP/1.1 200'), `plain HTTP on the TLS port was answered: ${plain.slice(0, 80)}`);

  // a key that does not belong to the new certificate: not loaded
  check((await peerCert(ca1)) === fingerprint(E.ZSA_CERT), 'the first certificate');
  fs.copyFileSync(E.ZSA_CERT2, E.ZSA_CERT);
  process.kill(Number(E.ZSA_GATEWAY_PID), 'SIGHUP');
  await sleep(500);
  check((await peerCert(ca1)) !== fingerprint(E.ZSA_CERT2), 'a mismatched pair was loaded');
  // the renewed pair
  fs.copyFileSync(E.ZSA_KEY2, E.ZSA_KEY);
  process.kill(Number(E.ZSA_GATEWAY_PID), 'SIGHUP');
  let fp = '';
  for (let i = 0; i < 50 && fp !== fingerprint(E.ZSA_CERT2); i++) {
    await sleep(100);
    fp = await peerCert(ca2).catch(() => '');
  }
  check(fp === fingerprint(E.ZSA_CERT2), 'new connections do not get the renewed certificate');
  r = await get('/readyz', ca2);
  check(r.status === 200, `https after the renewal: ${r.status}`);
  a.ws.send(JSON.stringify({ type: 'ping' }));
  await until(() => a.inbox.filter((m) => m.event_type === 'pong').length === 2, 10000, 'the old connection goes on');
  a.ws.close();
  console.log('tls: https and wss (deflate), untrusted refused, plain HTTP unanswered, SIGHUP renewal');
});
