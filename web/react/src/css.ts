// The components' stylesheet (no imports: build tools can read it on its own).
export const zsaCss = `
:root {
  --zsa-font: system-ui, sans-serif;
  --zsa-bg: #fff; --zsa-fg: #1d2330; --zsa-muted: #667085; --zsa-border: #d8dce3;
  --zsa-orange: #f08c00; --zsa-yellow: #e5b800; --zsa-blue: #2f6fdf; --zsa-green: #2f9e44;
  --zsa-red: #d64545; --zsa-radius: 8px; --zsa-shadow: 0 4px 16px rgba(0,0,0,.15);
}
.zsa-status { font-family: var(--zsa-font); color: var(--zsa-fg); padding: 8px 0; }
.zsa-status-head, .zsa-status-foot { display: flex; gap: 10px; align-items: baseline; font-size: 13px; }
.zsa-status-pct { margin-left: auto; font-variant-numeric: tabular-nums; }
.zsa-status-algo, .zsa-status-step, .zsa-status-eta, .zsa-status-gpu { color: var(--zsa-muted); }
.zsa-status-failed .zsa-status-step { color: var(--zsa-red); }
.zsa-status-cancel { margin-left: auto; font: inherit; border: 1px solid var(--zsa-border); background: var(--zsa-bg);
  border-radius: var(--zsa-radius); padding: 2px 10px; cursor: pointer; }
.zsa-bar { position: relative; height: 8px; border-radius: 4px; background: var(--zsa-border); overflow: hidden; margin: 6px 0; }
.zsa-bar-fill { height: 100%; border-radius: 4px; transition: width .4s ease, background-color .4s ease; }
.zsa-bar-orange .zsa-bar-fill { background: var(--zsa-orange); }
.zsa-bar-yellow .zsa-bar-fill { background: var(--zsa-yellow); }
.zsa-bar-blue .zsa-bar-fill { background: var(--zsa-blue); }
.zsa-bar-green .zsa-bar-fill { background: var(--zsa-green); }
.zsa-bar-running::after { content: ""; position: absolute; inset: 0;
  background: linear-gradient(90deg, transparent, rgba(255,255,255,.45), transparent);
  animation: zsa-shimmer 1.4s infinite; }
@keyframes zsa-shimmer { from { transform: translateX(-100%); } to { transform: translateX(100%); } }
.zsa-toasts { position: fixed; right: 16px; bottom: 16px; display: flex; flex-direction: column; gap: 8px;
  z-index: 1000; font-family: var(--zsa-font); }
.zsa-toast { position: relative; display: flex; gap: 10px; align-items: flex-start; min-width: 280px; max-width: 420px;
  background: var(--zsa-bg); color: var(--zsa-fg); border-left: 4px solid var(--zsa-blue); border-radius: var(--zsa-radius);
  box-shadow: var(--zsa-shadow); padding: 10px 12px 12px; overflow: hidden; animation: zsa-slide-in .25s ease-out; }
.zsa-toast-success { border-left-color: var(--zsa-green); }
.zsa-toast-error { border-left-color: var(--zsa-red); }
.zsa-toast-warning { border-left-color: var(--zsa-orange); }
.zsa-toast-body { flex: 1; font-size: 13px; }
.zsa-toast-message { color: var(--zsa-muted); margin-top: 2px; }
.zsa-toast-action, .zsa-toast-close { font: inherit; background: none; border: 0; cursor: pointer; color: var(--zsa-blue); }
.zsa-toast-close { color: var(--zsa-muted); font-size: 16px; line-height: 1; }
.zsa-toast-timer { position: absolute; left: 0; bottom: 0; height: 3px; width: 100%; background: currentColor; opacity: .25;
  transform-origin: left; animation: zsa-timer linear forwards; }
@keyframes zsa-timer { from { transform: scaleX(1); } to { transform: scaleX(0); } }
@keyframes zsa-slide-in { from { transform: translateX(110%); opacity: 0; } to { transform: none; opacity: 1; } }
.zsa-result { font-family: var(--zsa-font); color: var(--zsa-fg); }
.zsa-result h2 { font-size: 18px; margin: 8px 0; }
.zsa-result-meta, .zsa-muted { color: var(--zsa-muted); font-size: 13px; }
.zsa-result-error { color: var(--zsa-red); }
.zsa-result-top { display: flex; gap: 20px; align-items: flex-start; flex-wrap: wrap; }
.zsa-preview { width: min(100%, 480px); height: auto; image-rendering: pixelated; border: 1px solid var(--zsa-border);
  border-radius: var(--zsa-radius); background: #000; }
.zsa-summary { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 12px; font-size: 13px; margin: 0;
  flex: 1 1 320px; min-width: 0; }
.zsa-summary div { display: contents; }
.zsa-summary dt { color: var(--zsa-muted); }
.zsa-summary dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.zsa-artifacts { list-style: none; padding: 0; display: flex; gap: 16px; flex-wrap: wrap; font-size: 13px; }
.zsa-download { font: inherit; color: var(--zsa-blue); background: none; border: 0; padding: 0; cursor: pointer; text-decoration: underline; }
.zsa-table-wrap { max-width: 100%; max-height: 70vh; overflow: auto; margin-top: 12px; }
.zsa-objects { border-collapse: collapse; font-size: 12px; font-variant-numeric: tabular-nums; }
.zsa-objects thead th { position: sticky; top: 0; background: var(--zsa-bg); white-space: nowrap; }
.zsa-objects caption { text-align: left; color: var(--zsa-muted); padding: 4px 0; }
.zsa-objects th button { font: inherit; font-weight: 600; background: none; border: 0; cursor: pointer; padding: 0; }
.zsa-objects th[aria-sort="ascending"] button::after { content: " ▲"; }
.zsa-objects th[aria-sort="descending"] button::after { content: " ▼"; }
.zsa-objects th, .zsa-objects td { border-bottom: 1px solid var(--zsa-border); padding: 3px 8px; text-align: right; }
@media (prefers-reduced-motion: reduce) { .zsa-bar-running::after, .zsa-toast { animation: none; } }
`;
