// Toasts as a pure reducer: at most 5 at once (the oldest goes), each with its own duration
// (0: stays until dismissed) and an optional action.
export type ToastKind = 'success' | 'error' | 'warning' | 'info';

export interface ToastAction {
  label: string;
  onClick: () => void;
}

export interface ToastOptions {
  /** ms before it goes by itself (default 5000; errors default to 0: they stay) */
  duration?: number;
  action?: ToastAction;
}

export interface Toast {
  id: number;
  kind: ToastKind;
  title: string;
  message?: string;
  duration: number;
  action?: ToastAction;
  createdAt: number;
}

export const MAX_TOASTS = 5;

export type ToastEvent =
  | { type: 'add'; toast: Toast }
  | { type: 'dismiss'; id: number }
  | { type: 'expire'; now: number };

export function toastReducer(toasts: readonly Toast[], ev: ToastEvent): readonly Toast[] {
  switch (ev.type) {
    case 'add':
      return [...toasts, ev.toast].slice(-MAX_TOASTS);
    case 'dismiss':
      return toasts.filter((t) => t.id !== ev.id);
    case 'expire': {
      const left = toasts.filter((t) => t.duration <= 0 || ev.now - t.createdAt < t.duration);
      return left.length === toasts.length ? toasts : left;
    }
  }
}

let nextId = 1;

export function makeToast(kind: ToastKind, title: string, message?: string, opts: ToastOptions = {}, now = Date.now()): Toast {
  return { id: nextId++, kind, title, message, duration: opts.duration ?? (kind === 'error' ? 0 : 5000),
    action: opts.action, createdAt: now };
}
