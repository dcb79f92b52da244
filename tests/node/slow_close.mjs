// A client that stops reading while its session gets megabytes of events passes the gateway's
// --queue-hard-kb and is closed with 1013; the close frame reaches it once it reads again, even
// 8 s later (the gateway drops what it queued, writes the close frame when what the kernel holds
// has drained, and waits for the client's answer: it used to drop such a client after 5 s
// without a close frame, and a reset while the client's messages sat unread lost it too). Prints "ready" when it has stopped reading; the
// C test then emits the events; it resumes after ZSA_PAUSE_MS.
import { Client, check, run, deadline } from './lib.mjs';

run(async () => {
  const c = new Client('?session_id=slow1');
  await c.type('connected');
  c.ws._socket.pause();
  console.log('ready');
  await new Promise((ok) => setTimeout(ok, Number(process.env.ZSA_PAUSE_MS || 4000)));
  c.ws._socket.resume();
  const info = await deadline(c.closed, 15000, 'the close');
  const got = c.inbox.filter((m) => m.event_type === 'processing_failed').length;
  check(info.code === 1013, `closed with ${info.code} "${info.reason}", not 1013 (after ${got} events)`);
  check(/last_event_id/.test(info.reason), `reason: ${info.reason}`);
  console.log(`ok: 1013 "${info.reason}" after ${got} events`);
});
