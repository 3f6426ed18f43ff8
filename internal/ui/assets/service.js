// A service: its spec in brief, its whole task history, its logs.

import { h } from './vendor/preact.mjs';
import { useState, useEffect, useRef } from './vendor/hooks.mjs';
import htm from './vendor/htm.mjs';
import { get, filters, logChunks } from './api.js';
import { shortImage, taskName, portsOf, stackOf, ago } from './util.js';

const html = htm.bind(h);
const LOG_LINES_KEPT = 2000;

export function ServiceView({ id, s }) {
  const svc = s.services.get(id);
  const [history, setHistory] = useState([]);
  const [err, setErr] = useState('');
  // The history is read again whenever the cluster was.
  useEffect(() => {
    get('/tasks?' + filters({ service: [id] }))
      .then((ts) => { setHistory(ts.sort((a, b) => (a.Slot - b.Slot) || Date.parse(b.CreatedAt) - Date.parse(a.CreatedAt))); setErr(''); })
      .catch((e) => setErr(e.message));
  }, [id, s.refreshed]);
  if (!svc) return html`<p class="empty">No service ${id} (yet).</p>`;
  const st = svc.ServiceStatus || {};
  const u = svc.UpdateStatus;
  return html`<div class="detail">
    <h1>${svc.Spec.Name}</h1>
    <dl>
      <dt>image</dt><dd>${shortImage(svc.Spec.TaskTemplate?.ContainerSpec?.Image)}</dd>
      <dt>replicas</dt><dd>${st.RunningTasks}/${st.DesiredTasks}</dd>
      ${stackOf(svc) && html`<dt>stack</dt><dd>${stackOf(svc)}</dd>`}
      <dt>ports</dt><dd>${portsOf(svc) || '—'}</dd>
      ${u && html`<dt>update</dt><dd>${u.State}: ${u.Message}</dd>`}
    </dl>
    <h2>tasks</h2>
    ${err && html`<p class="error">${err}</p>`}
    <table class="history"><thead><tr><th>name</th><th>node</th><th>desired</th><th>state</th><th>since</th><th>error / message</th></tr></thead>
    <tbody>${history.map((t) => html`<tr key=${t.ID} class=${'s-' + t.Status?.State}>
      <td>${taskName(t, svc)}</td>
      <td>${t.NodeID ? html`<a href=${'#/node/' + t.NodeID}>${s.nodes.get(t.NodeID)?.Description?.Hostname || t.NodeID.slice(0, 12)}</a>` : '—'}</td>
      <td>${t.DesiredState}</td><td>${t.Status?.State}</td><td>${ago(t.Status?.Timestamp)}</td>
      <td>${t.Status?.Err || t.Status?.Message}</td></tr>`)}</tbody></table>
    <h2>logs</h2>
    <${Logs} id=${id} tty=${!!svc.Spec.TaskTemplate?.ContainerSpec?.TTY} />
  </div>`;
}

// Logs follows the service's logs for as long as it is shown.
function Logs({ id, tty }) {
  const [lines, setLines] = useState([]);
  const [err, setErr] = useState('');
  const box = useRef(null);
  useEffect(() => {
    const ctl = new AbortController();
    let buf = [];
    let partial = '';
    let timer = 0;
    const flush = () => {
      timer = 0;
      setLines((prev) => {
        const next = prev.concat(buf);
        buf = [];
        return next.length > LOG_LINES_KEPT ? next.slice(-LOG_LINES_KEPT) : next;
      });
    };
    (async () => {
      try {
        for await (const c of logChunks(`/services/${id}/logs?stdout=1&stderr=1&follow=1&timestamps=1&tail=200`, tty, ctl.signal)) {
          const parts = (partial + c.text).split('\n');
          partial = parts.pop();
          for (const p of parts) buf.push({ stream: c.stream, text: p });
          if (!timer) timer = setTimeout(flush, 100);
        }
      } catch (e) {
        if (!ctl.signal.aborted) setErr(e.message);
      }
    })();
    return () => { ctl.abort(); clearTimeout(timer); };
  }, [id, tty]);
  useEffect(() => {
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines]);
  return html`<div>
    ${err && html`<p class="error">${err}</p>`}
    <pre class="logs" ref=${box} data-logs>${lines.map((l) => (l.stream === 2 ? '! ' : '') + l.text).join('\n')}</pre>
  </div>`;
}
