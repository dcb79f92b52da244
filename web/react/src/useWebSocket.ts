// useWebSocket(options, handlers): the document's hook, on @zsa/client.
import { useEffect, useRef, useState } from 'react';
import {
  ZsaClient,
  type ClientMessage,
  type ConnectionStatus,
  type ServerMessage,
  type ZsaClientOptions,
} from '@zsa/client';

export type EventHandlers = {
  [T in ServerMessage['event_type']]?: (event: Extract<ServerMessage, { event_type: T }>) => void;
};

export interface UseWebSocketOptions extends Omit<ZsaClientOptions, 'maxReconnectAttempts'> {
  /** reconnect after a lost connection (default true) */
  reconnect?: boolean;
  maxReconnectAttempts?: number;
}

export interface UseWebSocket {
  status: ConnectionStatus;
  isConnected: boolean;
  send: (msg: ClientMessage) => void;
  reconnect: () => void;
  client: ZsaClient | null;
}

/** One connection for the component's lifetime (a new one when url or sessionId change);
 * handlers may change on every render (the latest ones are called). onAny sees every message,
 * from the first one (it listens before the connection opens). */
export function useWebSocket(options: UseWebSocketOptions, handlers: EventHandlers = {},
  onAny?: (m: ServerMessage) => void): UseWebSocket {
  const [status, setStatus] = useState<ConnectionStatus>('closed');
  const [client, setClient] = useState<ZsaClient | null>(null);
  const handlersRef = useRef(handlers);
  handlersRef.current = handlers;
  const anyRef = useRef(onAny);
  anyRef.current = onAny;
  const optsRef = useRef(options);
  optsRef.current = options;
  const { url, sessionId, encoding } = options;
  useEffect(() => {
    const o = optsRef.current;
    const c = new ZsaClient({ ...o, maxReconnectAttempts: o.reconnect === false ? 0 : o.maxReconnectAttempts });
    const offStatus = c.onStatus(setStatus);
    const offMsg = c.onMessage((m) => {
      const h = handlersRef.current[m.event_type] as ((e: ServerMessage) => void) | undefined;
      h?.(m);
      anyRef.current?.(m);
    });
    setClient(c);
    c.connect();
    return () => {
      offStatus();
      offMsg();
      c.close();
    };
  }, [url, sessionId, encoding]);
  return {
    status,
    isConnected: status === 'open',
    send: (msg) => client?.send(msg),
    reconnect: () => client?.reconnect(),
    client,
  };
}
