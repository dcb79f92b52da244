// ProcessingStatus: a job's progress as the document shows it: an animated bar (shimmer while it
// runs) coloured by progress, the step, the ETA counting down between events, GPU load, cancel.
// Give it the figures, or only imageId inside a WebSocketProvider.
import { useEffect, useState } from 'react';
import { useOptionalWebSocketContext } from './context';
import { etaRemaining, formatEta, progressColor, type ProcessingState } from './processing';

export interface ProcessingStatusProps {
  imageId: string;
  progress?: number;
  currentStep?: string;
  etaSeconds?: number | null;
  algorithm?: string;
  gpuUtilization?: number;
  onCancel?: () => void;
  /** the state to show instead of the provider's */
  state?: ProcessingState;
}

export function ProcessingStatus(props: ProcessingStatusProps) {
  const ctx = useOptionalWebSocketContext();
  const st = props.state ?? ctx?.states.get(props.imageId);
  const progress = props.progress ?? st?.progress ?? 0;
  const step = props.currentStep ?? st?.currentStep ?? (st?.phase === 'queued' ? 'Queued' : '');
  const phase = st?.phase ?? 'processing';
  const gpu = props.gpuUtilization ?? (ctx?.systemStatus && ctx.systemStatus.gpu_memory_total_mb > 0
    ? ctx.systemStatus.gpu_utilization : undefined);
  // the ETA counts down between events: re-render every second while it runs
  const [now, setNow] = useState(() => Date.now());
  const running = phase === 'processing';
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [running]);
  const eta = props.etaSeconds !== undefined ? props.etaSeconds : st ? etaRemaining(st, now) : null;
  const cancel = props.onCancel ?? (st && ctx && running
    ? () => ctx.send({ type: 'cancel', job_id: st.jobId }) : undefined);
  const pct = Math.max(0, Math.min(100, progress));
  return (
    <div className={`zsa-status zsa-status-${phase}`} data-image={props.imageId}>
      <div className="zsa-status-head">
        <span className="zsa-status-image">{props.imageId}</span>
        {(props.algorithm ?? st?.algorithm) && <span className="zsa-status-algo">{props.algorithm ?? st?.algorithm}</span>}
        <span className="zsa-status-pct">{Math.round(pct)} %</span>
      </div>
      <div
        className={`zsa-bar zsa-bar-${progressColor(pct)}${running ? ' zsa-bar-running' : ''}`}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(pct)}
        aria-label={`${props.imageId}: ${step || phase}`}
      >
        <div className="zsa-bar-fill" style={{ width: `${pct}%` }} />
      </div>
      <div className="zsa-status-foot">
        <span className="zsa-status-step">{phase === 'failed' ? `${st?.errorCode}: ${st?.error}` : step}</span>
        {running && <span className="zsa-status-eta">ETA {formatEta(eta)}</span>}
        {gpu !== undefined && <span className="zsa-status-gpu">GPU {Math.round(gpu)} %</span>}
        {cancel && running && (
          <button type="button" className="zsa-status-cancel" onClick={cancel}>
            Cancel
          </button>
        )}
      </div>
    </div>
  );
}
