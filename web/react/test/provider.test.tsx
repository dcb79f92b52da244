import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, create, type ReactTestRenderer } from 'react-test-renderer';
import { FakeWS } from '../../client/test/unit/fake_ws';
import { WebSocketProvider, useHasActiveProcessing, useProcessingState, useWebSocketContext } from '../src/context';
import { ProcessingStatus } from '../src/ProcessingStatus';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function Probe() {
  const { status, isConnected, clientId, systemStatus } = useWebSocketContext();
  const st = useProcessingState('img1');
  const active = useHasActiveProcessing();
  return (
    <div>
      <span id="status">{status}</span>
      <span id="connected">{String(isConnected)}</span>
      <span id="client">{clientId ?? ''}</span>
      <span id="queue">{systemStatus?.queue_length ?? ''}</span>
      <span id="progress">{st ? `${st.phase}:${st.progress}` : 'none'}</span>
      <span id="active">{String(active)}</span>
      <ProcessingStatus imageId="img1" />
    </div>
  );
}

const text = (r: ReactTestRenderer, id: string) => r.root.findByProps({ id }).children.join('');
const ev = (e: object) => ({ timestamp: 't', session_id: 's1', job_id: 'j1', image_id: 'img1', ...e });

beforeEach(() => {
  vi.useFakeTimers();
  FakeWS.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('WebSocketProvider', () => {
  it('tracks the connection, system status and each image\'s processing, and raises toasts', () => {
    let r!: ReactTestRenderer;
    act(() => {
      r = create(<WebSocketProvider wsUrl="ws://gw/ws" sessionId="s1" WebSocket={FakeWS} onViewResult={() => {}}><Probe /></WebSocketProvider>);
    });
    expect(text(r, 'status')).toBe('connecting');
    const ws = FakeWS.last();
    act(() => {
      ws.open();
      ws.connected('s1');
      ws.receive({ event_type: 'system_status', timestamp: 't', gpu_utilization: 0, gpu_memory_used_mb: 0,
        gpu_memory_total_mb: 0, queue_length: 3, active_processing_count: 1, workers_online: 2 });
    });
    expect([text(r, 'status'), text(r, 'connected'), text(r, 'client'), text(r, 'queue')]).toEqual(['open', 'true', 'c-1', '3']);
    act(() => {
      ws.receive(ev({ event_type: 'processing_started', algorithm: 'simulate', estimated_time_seconds: 4, parameters: {} }));
      ws.receive(ev({ event_type: 'processing_progress', progress: 60, current_step: 'Processing', eta_seconds: 2 }));
    });
    expect([text(r, 'progress'), text(r, 'active')]).toEqual(['processing:60', 'true']);
    expect(r.root.findByProps({ role: 'progressbar' }).props['aria-valuenow']).toBe(60);
    // its cancel button sends a cancel for the image's job
    act(() => r.root.findByProps({ className: 'zsa-status-cancel' }).props.onClick());
    expect(ws.sent).toContainEqual({ type: 'cancel', job_id: 'j1' });
    act(() => {
      ws.receive(ev({ event_type: 'processing_complete', result_id: 'j1.r1', summary: {}, processing_time_seconds: 4.8, confidence_score: 0.9 }));
    });
    expect([text(r, 'progress'), text(r, 'active')]).toEqual(['complete:100', 'false']);
    const toasts = () => r.root.findAll((n) => typeof n.props.className === 'string' && n.props.className.startsWith('zsa-toast zsa-toast-'));
    expect(toasts()).toHaveLength(1);
    expect(JSON.stringify(r.toJSON())).toContain('finished in 4.8 s');
    expect(JSON.stringify(r.toJSON())).toContain('View Results');
    act(() => {
      ws.receive(ev({ event_type: 'processing_failed', job_id: 'j2', error: 'boom', error_code: 'SIMULATED_FAILURE', retry_available: true }));
    });
    expect(toasts()).toHaveLength(2);
    expect(JSON.stringify(r.toJSON())).toContain('Retry');
    act(() => {
      vi.advanceTimersByTime(5100); // the success toast goes, the error stays
    });
    expect(toasts()).toHaveLength(1);
    act(() => r.unmount());
    expect(ws.closedWith?.code).toBe(1000);
  });
});
