// ResultView: one result as people look at it — its preview image, its summary, the object
// table (sortable by any column) and its artifacts to download. Everything comes over REST with
// the provider's token (the preview and the table are fetched, then shown from a blob: URL,
// because a browser does not send an Authorization header for <img src>); downloads follow each
// artifact's download_url, a signed link for that one file, so the browser streams it to disk
// whatever its size.
import { useEffect, useMemo, useState } from 'react';
import type { Artifact, ZsaRest } from '@zsa/client';
import { useOptionalWebSocketContext } from './context';

/** A CSV table of numbers and words, as the workers write them (no quoted commas). */
export interface Table {
  head: string[];
  rows: (string | number)[][];
}

export function parseCsv(text: string, maxRows = Infinity): Table {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  const head = (lines.shift() ?? '').split(',');
  const rows = lines.slice(0, maxRows).map((l) => l.split(',').map((c) => (c !== '' && !Number.isNaN(Number(c)) ? Number(c) : c)));
  return { head, rows };
}

export type SortDir = 'ascending' | 'descending';

/** The rows ordered by column col (numbers as numbers, then text), stable. */
export function sortRows(rows: Table['rows'], col: number, dir: SortDir): Table['rows'] {
  const sign = dir === 'ascending' ? 1 : -1;
  return rows
    .map((r, i) => [r, i] as const)
    .sort(([a, i], [b, j]) => {
      const x = a[col], y = b[col];
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return c !== 0 ? sign * c : i - j;
    })
    .map(([r]) => r);
}

export function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

export interface ResultViewProps {
  resultId: string;
  /** the REST client (default: the WebSocketProvider's) */
  rest?: ZsaRest;
  /** rows of the object table shown (default 2000; the download has them all) */
  maxRows?: number;
  /** object tables larger than this are not loaded in the page (default 8 MB) */
  maxTableBytes?: number;
}

type Summary = Record<string, unknown>;

/** A summary value as people read it: numbers to 4 significant digits (whole numbers of 1000
 * and more rounded), lists comma-separated, small objects as "key value · key value". */
export function formatValue(v: unknown): string {
  if (typeof v === 'number') {
    if (Number.isInteger(v) || !Number.isFinite(v)) return String(v);
    return Math.abs(v) >= 1000 ? String(Math.round(v)) : String(Number(v.toPrecision(4)));
  }
  if (typeof v === 'string' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return '—';
  if (Array.isArray(v)) return v.map(formatValue).join(', ');
  return Object.entries(v as object).map(([k, x]) => `${k} ${formatValue(x)}`).join(' · ');
}
const scalar = formatValue;

export function ResultView({ resultId, rest: restProp, maxRows = 2000, maxTableBytes = 8 << 20 }: ResultViewProps) {
  const ctx = useOptionalWebSocketContext();
  const rest = restProp ?? ctx?.rest;
  const [result, setResult] = useState<Summary | null>(null);
  const [artifacts, setArtifacts] = useState<Artifact[]>([]);
  const [preview, setPreview] = useState<string | null>(null);
  const [table, setTable] = useState<Table | null>(null);
  const [sort, setSort] = useState<{ col: number; dir: SortDir } | null>(null);
  const [error, setError] = useState('');

  useEffect(() => {
    if (!rest) return;
    let gone = false;
    let url: string | null = null;
    setResult(null), setArtifacts([]), setPreview(null), setTable(null), setError('');
    (async () => {
      try {
        const [r, a] = await Promise.all([rest.getResult(resultId), rest.listArtifacts(resultId)]);
        if (gone) return;
        setResult(r), setArtifacts(a.artifacts);
        if (a.artifacts.some((x) => x.name === 'preview.png')) {
          const blob = await rest.fetchArtifact(resultId, 'preview.png');
          if (gone) return;
          url = URL.createObjectURL(blob);
          setPreview(url);
        }
        const csv = a.artifacts.find((x) => x.name === 'objects.csv');
        if (csv && csv.size <= maxTableBytes) {
          const text = await (await rest.fetchArtifact(resultId, 'objects.csv')).text();
          if (!gone) setTable(parseCsv(text, maxRows));
        }
      } catch (e) {
        if (!gone) setError((e as Error).message);
      }
    })();
    return () => {
      gone = true;
      if (url) URL.revokeObjectURL(url);
    };
  }, [rest, resultId, maxRows, maxTableBytes]);

  const rows = useMemo(() => (table && sort ? sortRows(table.rows, sort.col, sort.dir) : table?.rows ?? []), [table, sort]);

  const download = async (a: Artifact) => {
    if (!rest) return;
    if (a.download_url) { // the browser's own download: streamed to disk, any size
      const link = document.createElement('a');
      link.href = rest.absolute(a.download_url);
      link.download = a.name;
      document.body.appendChild(link);
      link.click();
      link.remove();
      return;
    }
    try { // an older gateway: through memory
      const blob = await rest.fetchArtifact(resultId, a.name);
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = a.name;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (e) {
      setError(`${a.name}: ${(e as Error).message}`);
    }
  };

  const summary = (result?.summary ?? {}) as Summary;
  const shown = Object.entries(summary).filter(([k, v]) => !['artifacts', 'preview', 'histogram', 'per_slice'].includes(k)
    && (typeof v !== 'object' || v === null || Object.keys(v as object).length <= 8));
  return (
    <section className="zsa-result" aria-busy={!result && !error} data-result={resultId}>
      <h2>Result {resultId}</h2>
      {error && <p role="alert" className="zsa-result-error">{error}</p>}
      {result && (
        <p className="zsa-result-meta">
          {scalar(result.algorithm)} on {scalar(result.image_id)} · confidence {scalar(result.confidence_score)}
          {' · '}{scalar(result.processing_time_seconds)} s
        </p>
      )}
      <div className="zsa-result-top">
        {preview && <img className="zsa-preview" src={preview} alt={`preview of result ${resultId}`} />}
        {result && (
          <dl className="zsa-summary">
            {shown.map(([k, v]) => (
              <div key={k}><dt>{k}</dt><dd>{scalar(v)}</dd></div>
            ))}
          </dl>
        )}
      </div>
      {artifacts.length > 0 && (
        <ul className="zsa-artifacts" aria-label="downloads">
          {artifacts.map((a) => (
            <li key={a.name}>
              <button type="button" className="zsa-download" data-name={a.name} onClick={() => void download(a)}>
                {a.name}
              </button>{' '}
              <span className="zsa-muted">{a.type}, {formatBytes(a.size)}</span>
            </li>
          ))}
        </ul>
      )}
      {table && (
        <div className="zsa-table-wrap" role="region" aria-label="objects" tabIndex={0}>
        <table className="zsa-objects">
          <caption>
            {table.rows.length} objects{table.rows.length === maxRows ? ` (the first ${maxRows}; download objects.csv for all)` : ''}
          </caption>
          <thead>
            <tr>
              {table.head.map((h, i) => (
                <th key={h} aria-sort={sort?.col === i ? sort.dir : 'none'}>
                  <button type="button" onClick={() => setSort((s) => ({ col: i, dir: s?.col === i && s.dir === 'ascending' ? 'descending' : 'ascending' }))}>
                    {h}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={String(r[0])}>{r.map((c, i) => <td key={i}>{typeof c === 'number' ? scalar(c) : c}</td>)}</tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
    </section>
  );
}
