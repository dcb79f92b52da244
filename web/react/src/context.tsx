// WebSocketProvider: one connection for the app, the processing state of every image it hears
// of, the latest system_status, and toasts for outcomes (complete, failed with Retry, results
// that need a review).
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from 'react';
import { ZsaRest, type ServerMessage, type SystemStatus, type TokenSource, type WebSocketCtor } from '@zsa/client';
import { isActive, processingReducer, validationReducer, type ProcessingState, type ProcessingStates } from './processing';
import { makeToast, toastReducer, type Toast, type ToastKind, type ToastOptions } from './toast';
import { ToastContainer } from './Toasts';
import { useWebSocket, type UseWebSocket } from './useWebSocket';

export interface ToastApi {
  success(title: string, message?: string, opts?: ToastOptions): number;
  error(title: string, message?: string, opts?: ToastOptions): number;
  warning(title: string, message?: string, opts?: ToastOptions): number;
  info(title: string, message?: string, opts?: ToastOptions): number;
  dismiss(id: number): void;
  toasts: readonly Toast[];
}

interface WsContext extends UseWebSocket {
  clientId: string | undefined;
  sessionId: string | undefined;
  systemStatus: SystemStatus | undefined;
  states: ProcessingStates;
  rest: ZsaRest;
}

const WsCtx = createContext<WsContext | null>(null);
const ToastCtx = createContext<ToastApi | null>(null);

export interface WebSocketProviderProps {
  wsUrl: string;
  sessionId?: string;
  token?: TokenSource;
  encoding?: 'json' | 'msgpack';
  /** raise toasts for outcomes (default true) */
  notify?: boolean;
  /** "View Results" on a completion toast */
  onViewResult?: (resultId: string) => void;
  /** every server message, from the very first (listening starts before the connection) */
  onMessage?: (m: ServerMessage) => void;
  WebSocket?: WebSocketCtor;
  children?: ReactNode;
}

/** Toasts alone, for an app that raises its own (WebSocketProvider includes one). */
export function ToastProvider({ children }: { children?: ReactNode }) {
  const [toasts, dispatch] = useReducer(toastReducer, []);
  useEffect(() => {
    if (!toasts.some((t) => t.duration > 0)) return;
    const timer = setInterval(() => dispatch({ type: 'expire', now: Date.now() }), 100);
    return () => clearInterval(timer);
  }, [toasts]);
  const add = useCallback((kind: ToastKind) => (title: string, message?: string, opts?: ToastOptions) => {
    const t = makeToast(kind, title, message, opts);
    dispatch({ type: 'add', toast: t });
    return t.id;
  }, []);
  const api = useMemo<ToastApi>(() => ({
    success: add('success'), error: add('error'), warning: add('warning'), info: add('info'),
    dismiss: (id: number) => dispatch({ type: 'dismiss', id }), toasts,
  }), [add, toasts]);
  return (
    <ToastCtx.Provider value={api}>
      {children}
      <ToastContainer toasts={toasts} onDismiss={api.dismiss} />
    </ToastCtx.Provider>
  );
}

export function useToast(): ToastApi {
  const t = useContext(ToastCtx);
  if (!t) throw new Error('useToast needs a <ToastProvider> or <WebSocketProvider> above it');
  return t;
}

function Inner({ wsUrl, sessionId, token, encoding, notify = true, onViewResult, onMessage, WebSocket, children }: WebSocketProviderProps) {
  const toast = useToast();
  const [states, setStates] = useState<ProcessingStates>(new Map());
  const [systemStatus, setSystemStatus] = useState<SystemStatus>();
  const rest = useMemo(() => new ZsaRest({ url: wsUrl, token }), [wsUrl, token]);
  const notifyRef = useRef({ notify, onViewResult, toast, rest });
  notifyRef.current = { notify, onViewResult, toast, rest };
  const ws = useWebSocket({ url: wsUrl, sessionId, token, encoding, WebSocket }, {
    system_status: (m) => setSystemStatus(m),
    processing_started: (m) => setStates((s) => processingReducer(s, m)),
    processing_progress: (m) => setStates((s) => processingReducer(s, m)),
    processing_complete: (m) => {
      setStates((s) => processingReducer(s, m));
      const n = notifyRef.current;
      if (n.notify)
        n.toast.success('Analysis complete', `${m.image_id}: finished in ${m.processing_time_seconds.toFixed(1)} s`, {
          action: n.onViewResult ? { label: 'View Results', onClick: () => n.onViewResult!(m.result_id) } : undefined,
        });
    },
    processing_failed: (m) => {
      setStates((s) => processingReducer(s, m));
      const n = notifyRef.current;
      if (!n.notify) return;
      if (m.error_code === 'CANCELLED') n.toast.info('Analysis cancelled', m.image_id);
      else
        n.toast.error('Analysis failed', `${m.image_id}: ${m.error_code}: ${m.error}`, {
          action: m.retry_available ? { label: 'Retry', onClick: () => void n.rest.retryJob(m.job_id) } : undefined,
        });
    },
    validation_required: (m) => {
      setStates((s) => validationReducer(s, m));
      const n = notifyRef.current;
      if (n.notify)
        n.toast.warning('Result needs review', `${m.reason} (confidence ${m.confidence.toFixed(2)})`, {
          duration: 0,
          action: n.onViewResult ? { label: 'Review', onClick: () => n.onViewResult!(m.result_id) } : undefined,
        });
    },
  }, onMessage);
  const value = useMemo<WsContext>(() => ({
    ...ws, clientId: ws.client?.clientId, sessionId: ws.client?.sessionId ?? sessionId, systemStatus, states, rest,
  }), [ws, systemStatus, states, rest, sessionId]);
  return <WsCtx.Provider value={value}>{children}</WsCtx.Provider>;
}

export function WebSocketProvider(props: WebSocketProviderProps) {
  return (
    <ToastProvider>
      <Inner {...props} />
    </ToastProvider>
  );
}

/** The provider's context, or null outside one. */
export function useOptionalWebSocketContext(): WsContext | null {
  return useContext(WsCtx);
}

export function useWebSocketContext(): WsContext {
  const c = useContext(WsCtx);
  if (!c) throw new Error('this hook needs a <WebSocketProvider> above it');
  return c;
}

export function useProcessingState(imageId: string): ProcessingState | undefined {
  return useWebSocketContext().states.get(imageId);
}

export function useAllProcessingStates(): ProcessingState[] {
  const { states } = useWebSocketContext();
  return useMemo(() => [...states.values()].sort((a, b) => b.updatedAt - a.updatedAt), [states]);
}

export function useHasActiveProcessing(): boolean {
  const { states } = useWebSocketContext();
  return useMemo(() => [...states.values()].some(isActive), [states]);
}
