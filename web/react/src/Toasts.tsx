// The stack of toasts: an ARIA live region, one card per toast with its action, a close button
// and a bar that shows the time left before it goes.
import type { Toast } from './toast';

export interface ToastContainerProps {
  toasts: readonly Toast[];
  onDismiss: (id: number) => void;
}

export function ToastContainer({ toasts, onDismiss }: ToastContainerProps) {
  return (
    <div className="zsa-toasts" role="region" aria-label="Notifications" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} className={`zsa-toast zsa-toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
          <div className="zsa-toast-body">
            <strong className="zsa-toast-title">{t.title}</strong>
            {t.message && <div className="zsa-toast-message">{t.message}</div>}
          </div>
          {t.action && (
            <button type="button" className="zsa-toast-action" onClick={() => { t.action!.onClick(); onDismiss(t.id); }}>
              {t.action.label}
            </button>
          )}
          <button type="button" className="zsa-toast-close" aria-label={`Dismiss: ${t.title}`} onClick={() => onDismiss(t.id)}>
            ×
          </button>
          {t.duration > 0 && (
            <div className="zsa-toast-timer" style={{ animationDuration: `${t.duration}ms` }} aria-hidden="true" />
          )}
        </div>
      ))}
    </div>
  );
}
