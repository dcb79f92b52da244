// A stand-in WebSocket for the unit tests: records what the client sends and lets a test play
// the server (open, messages, close). The tests against a real gateway are in test/live.
import type { WebSocketLike } from '../../src/client';

export class FakeWS implements WebSocketLike {
  static all: FakeWS[] = [];
  readyState = 0;
  binaryType = 'blob';
  sent: unknown[] = [];
  closedWith: { code?: number; reason?: string } | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string, readonly protocols?: string | string[]) {
    FakeWS.all.push(this);
  }

  static last(): FakeWS {
    return FakeWS.all[FakeWS.all.length - 1];
  }

  send(data: string | Uint8Array): void {
    this.sent.push(typeof data === 'string' ? JSON.parse(data) : data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  // the server side
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(msg: object): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }

  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  connected(session = 's1', extra: object = {}): void {
    this.receive({ event_type: 'connected', timestamp: 't', client_id: 'c-1', session_id: session,
      heartbeat_interval_seconds: 30, resumed: false, ...extra });
  }
}
