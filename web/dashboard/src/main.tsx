// The zsa dashboard, served by zsa-gateway at / (bundled by build.mjs into
// gateway/dashboard/index.html, embedded in the binary). One session's jobs, live (?session=S,
// else the token's only session, else "dashboard"), and the cluster's status; submits, cancels
// and retries jobs; toasts for outcomes; a result's page at /results/<id> (preview, summary,
// object table, downloads). Talks to the gateway only: WebSocket /ws, REST /api.
import { StrictMode, useCallback, useEffect, useReducer, useRef, useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import type { ServerMessage } from '@zsa/client';
import { ProcessingStatus, ResultView, WebSocketProvider, useToast, useWebSocketContext, type ProcessingState } from '@zsa/react';
import { applyEvent, applyRest, applySubmitted, type JobRow, type Jobs } from './jobs';

// The access token comes after '#' (never sent to a server, so never in an access log): kept for
// this tab in sessionStorage and taken out of the address bar.
const params = new URLSearchParams(location.search);
const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromHash) {
  sessionStorage.setItem('zsa.token', fromHash);
  history.replaceState(null, '', location.pathname + location.search);
}
const token = sessionStorage.getItem('zsa.token') || '';
function tokenSession(): string {
  try {
    const p = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const s = JSON.parse(atob(p)).sessions as string[];
    return s.length === 1 && !s[0].endsWith('*') ? s[0] : '';
  } catch {
    return '';
  }
}
const valid = (s: string | null) => /^[A-Za-z0-9_.:-]{1,128}$/.test(s || '') && !s!.startsWith('.');
const session = valid(params.get('session')) ? params.get('session')! : valid(tokenSession()) ? tokenSession() : 'dashboard';
const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
// for people debugging in the console (and the browser tests): the event ids received, in order
const debug: { ids: string[]; session: string; history?: number } = { ids: [], session };
(window as unknown as { zsa: typeof debug }).zsa = debug;

// Every server message, from the provider (which listens before the connection opens), to the
// dashboard; kept until the dashboard listens, so that nothing sent first is lost.
function createBus() {
  const subs = new Set<(m: ServerMessage) => void>();
  let early: ServerMessage[] | null = [];
  return {
    emit(m: ServerMessage) {
      if (early) early.push(m);
      subs.forEach((f) => f(m));
    },
    subscribe(f: (m: ServerMessage) => void) {
      subs.add(f);
      const pending = early;
      early = null;
      pending?.forEach(f);
      return () => void subs.delete(f);
    },
  };
}
const bus = createBus();

type Action =
  | { type: 'event'; m: ServerMessage }
  | { type: 'rest'; jobs: Parameters<typeof applyRest>[1][]; force: boolean }
  | { type: 'submitted'; jobId: string; algorithm: string };

function jobsReducer(jobs: Jobs, a: Action): Jobs {
  switch (a.type) {
    case 'event':
      return applyEvent(jobs, a.m);
    case 'rest':
      return a.jobs.reduce((j, x) => applyRest(j, x, a.force), jobs);
    case 'submitted':
      return applySubmitted(jobs, a.jobId, a.algorithm);
  }
}

const asState = (r: JobRow): ProcessingState => ({
  imageId: r.imageId || r.jobId, jobId: r.jobId, algorithm: r.algorithm || undefined, progress: r.progress,
  currentStep: r.step, etaSeconds: r.etaSeconds, etaAt: r.etaAt, updatedAt: r.etaAt,
  phase: r.status === 'running' ? 'processing' : r.status === 'dead' ? 'failed' : r.status,
});

// Two pages, one connection: the jobs (/) and a result (/results/<id>), switched with the
// History API so that the WebSocket and its toasts stay.
const resultOf = (path: string) => /^\/results\/([A-Za-z0-9_.:-]{1,128})$/.exec(path)?.[1] ?? null;
const listeners = new Set<() => void>();
function navigate(path: string) {
  history.pushState(null, '', path + location.search);
  listeners.forEach((f) => f());
}
window.addEventListener('popstate', () => listeners.forEach((f) => f()));
function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const f = () => setPath(location.pathname);
    listeners.add(f);
    return () => void listeners.delete(f);
  }, []);
  return path;
}

function App() {
  const rid = resultOf(usePath());
  return rid ? <ResultPage resultId={rid} /> : <Dashboard />;
}

function ResultPage({ resultId }: { resultId: string }) {
  return (
    <>
      <header>
        <h1>zsa</h1>
        <a href="/" id="back" onClick={(e) => { e.preventDefault(); navigate('/'); }}>← jobs of session {session}</a>
      </header>
      <main>
        <ResultView resultId={resultId} />
      </main>
    </>
  );
}

function Dashboard() {
  const { status, client, rest, systemStatus } = useWebSocketContext();
  const toast = useToast();
  const [jobs, dispatch] = useReducer(jobsReducer, new Map() as Jobs);
  const [msg, setMsg] = useState('');
  const [denied, setDenied] = useState(false);
  const [wasOpen, setWasOpen] = useState(false);
  const loading = useRef<Promise<void> | null>(null);

  const loadHistory = useCallback((force: boolean) => {
    if (loading.current) return loading.current;
    loading.current = (async () => {
      try {
        const list: Parameters<typeof applyRest>[1][] = [];
        let cursor: string | null = null;
        for (let pages = 0; pages < 5; pages++) { // newest first, at most 5 pages of 200
          const page = await rest.sessionJobs(session, { limit: 200, cursor: cursor ?? undefined });
          list.push(...page.jobs);
          cursor = page.next_cursor;
          if (!cursor) break;
        }
        dispatch({ type: 'rest', jobs: list.reverse(), force }); // oldest first
        debug.history = list.length;
      } catch (e) {
        setMsg(`history: ${(e as Error).message}`);
      } finally {
        loading.current = null;
      }
    })();
    return loading.current;
  }, [rest]);

  useEffect(() => {
    if (!client) return;
    const offs = [
      bus.subscribe((m) => {
        if ('event_id' in m && m.event_id && 'session_id' in m && m.session_id) debug.ids.push(m.event_id);
        if (m.event_type === 'connected') {
          setWasOpen(true);
          if (!m.resumed) void loadHistory(false); // a fresh start: the session's jobs so far
        }
        dispatch({ type: 'event', m });
      }),
      client.onResync(() => void loadHistory(true)), // events were lost: re-read over REST
      client.onError((e) => {
        setDenied(true);
        setMsg(`${e.message} — open this page with a valid token (…/#token=…)`);
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [client, loadHistory]);

  const submit = async (ev: FormEvent<HTMLFormElement>) => {
    ev.preventDefault();
    setMsg('');
    const f = ev.currentTarget;
    const get = (id: string) => (f.querySelector(`#${id}`) as HTMLInputElement | HTMLSelectElement).value.trim();
    let parameters: Record<string, unknown> = {};
    try {
      parameters = get('params') ? JSON.parse(get('params')) : {};
    } catch {
      setMsg('parameters: not JSON');
      return;
    }
    const file = get('file');
    const algorithm = get('algorithm');
    const image = (file.split('/').pop()!.split('.')[0] || 'image').replace(/[^A-Za-z0-9_.:-]/g, '_');
    try {
      const res = await rest.submitJob({ image_id: image, algorithm, parameters, session_id: session,
        ...(file ? { file_path: file } : {}) });
      dispatch({ type: 'submitted', jobId: res.job_id, algorithm });
    } catch (e) {
      const err = e as { code?: string; message: string };
      setMsg(`${err.code ?? 'ERROR'}: ${err.message}`);
    }
  };

  const act = (what: 'cancel' | 'retry', id: string) => {
    (what === 'cancel' ? rest.cancelJob(id) : rest.retryJob(id)).catch((e: Error) =>
      toast.error(what === 'cancel' ? 'Cancel refused' : 'Retry refused', e.message));
  };

  const conn = denied ? 'no access' : status === 'open' ? 'live' : wasOpen ? 'reconnecting' : 'connecting';
  const s = systemStatus;
  const rows = [...jobs.values()].sort((a, b) => b.order - a.order);
  return (
    <>
      <header>
        <h1>zsa</h1>
        <span>session <b id="session">{session}</b></span>
        <span id="conn" className={conn === 'live' ? 'live' : conn === 'connecting' ? '' : 'down'}>{conn}</span>
        <span className="muted" id="status-time">{s ? `status ${new Date(s.timestamp).toLocaleTimeString()}` : ''}</span>
      </header>
      <main>
        <div className="cards">
          <Card id="queue" label="queued" value={s?.queue_length} />
          <Card id="active" label="running" value={s?.active_processing_count} />
          <Card id="workers" label="workers online" value={s?.workers_online} />
          <Card id="gpu" label="GPU load" value={s ? (s.gpu_memory_total_mb > 0 ? `${Math.round(s.gpu_utilization)} %` : 'CPU') : undefined} />
          <Card id="gpumem" label="GPU memory" value={s ? (s.gpu_memory_total_mb > 0
            ? `${(s.gpu_memory_used_mb / 1024).toFixed(1)} / ${(s.gpu_memory_total_mb / 1024).toFixed(1)} GB` : '–') : undefined} />
        </div>
        <form id="submit" onSubmit={submit}>
          <select id="algorithm" defaultValue="segmentation_3d">
            {['segmentation_3d', 'max_projection', 'intensity_stats', 'simulate'].map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
          <input id="file" placeholder="file path (as the workers see it)" size={36} />
          <input id="params" placeholder='parameters, e.g. {"sigma": 1}' size={28} />
          <button type="submit">Submit</button>
          <span id="msg">{msg}</span>
        </form>
        <table>
          <thead>
            <tr><th>job</th><th>algorithm</th><th>status</th><th>progress</th><th>result</th><th></th></tr>
          </thead>
          <tbody id="jobs">
            {rows.map((r) => (
              <tr key={r.jobId} data-job={r.jobId} className={`${r.status === 'dead' ? 'failed' : r.status}${r.review ? ' review' : ''}`}>
                <td className="job">{r.jobId}</td>
                <td className="algorithm">{r.algorithm}</td>
                <td className="status">{r.status}</td>
                <td className="progress">
                  {r.status === 'running' ? <ProcessingStatus imageId={r.imageId || r.jobId} state={asState(r)} />
                    : <span className="muted">{Math.round(r.progress)} %</span>}
                </td>
                <td className="result">
                  {r.result}
                  {r.review && (
                    <div className="alert">
                      {`Needs review (confidence ${r.review.confidence.toFixed(2)})${r.review.reason ? `: ${r.review.reason}` : ''}`}
                      <ul>{r.review.actions.map((t) => <li key={t}>{t}</li>)}</ul>
                    </div>
                  )}
                </td>
                <td className="actions">
                  {r.status === 'complete' && r.resultId && (
                    <button className="view" onClick={() => navigate(`/results/${r.resultId}`)}>View</button>
                  )}
                  {r.status === 'queued' && <button className="cancel" onClick={() => act('cancel', r.jobId)}>Cancel</button>}
                  {(r.status === 'failed' || r.status === 'cancelled' || r.status === 'dead') && r.retryAvailable &&
                    <button className="retry" onClick={() => act('retry', r.jobId)}>Retry</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </main>
    </>
  );
}

function Card({ id, label, value }: { id: string; label: string; value: string | number | undefined }) {
  return (
    <div className="card">
      <div className="v" id={id}>{value ?? '–'}</div>
      <div className="k">{label}</div>
    </div>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <WebSocketProvider wsUrl={wsUrl} sessionId={session} token={token || undefined} onMessage={bus.emit}
      onViewResult={(rid) => navigate(`/results/${rid}`)}>
      <App />
    </WebSocketProvider>
  </StrictMode>,
);
