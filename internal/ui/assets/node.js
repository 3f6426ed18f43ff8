// A node: what it is, what it offers, its labels, its tasks, and its
// availability with the buttons that change it.

import { h } from './vendor/preact.mjs';
import { useState } from './vendor/hooks.mjs';
import htm from './vendor/htm.mjs';
import { post } from './api.js';
import { nodeName, formatBytes, formatCPU, taskName } from './util.js';
import { TaskCard } from './card.js';

const html = htm.bind(h);

const AVAILABILITY = [['active', 'activate'], ['pause', 'pause'], ['drain', 'drain']];

export function NodeView({ id, s, cluster }) {
  const n = s.nodes.get(id);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  if (!n) return html`<p class="empty">No node ${id}.</p>`;
  const setAvailability = async (a) => {
    setBusy(true);
    setErr('');
    try {
      // As docker node update does: the whole spec, at the version read.
      await post(`/nodes/${n.ID}/update?version=${n.Version.Index}`, { ...n.Spec, Availability: a });
      cluster.soon();
    } catch (e) {
      setErr(e.message);
    }
    setBusy(false);
  };
  const res = n.Description?.Resources || {};
  const tasks = [...s.tasks.values()].filter((t) => t.NodeID === n.ID)
    .sort((a, b) => taskName(a, s.services.get(a.ServiceID)).localeCompare(taskName(b, s.services.get(b.ServiceID)), undefined, { numeric: true }));
  const labels = Object.entries(n.Spec?.Labels || {});
  const engineLabels = Object.entries(n.Description?.Engine?.Labels || {});
  return html`<div class="detail" data-node-detail=${n.ID}>
    <h1>${nodeName(n)}</h1>
    <div class="buttons">
      availability <b data-availability>${n.Spec.Availability}</b>
      ${AVAILABILITY.map(([a, label]) => html`<button key=${a} data-action=${a} disabled=${busy || n.Spec.Availability === a} onClick=${() => setAvailability(a)}>${label}</button>`)}
    </div>
    ${err && html`<p class="error">${err}</p>`}
    <dl>
      <dt>ID</dt><dd>${n.ID}</dd>
      <dt>role</dt><dd>${n.Spec.Role}${n.ManagerStatus ? ` (${n.ManagerStatus.Reachability}${n.ManagerStatus.Leader ? ', leader' : ''}, ${n.ManagerStatus.Addr})` : ''}</dd>
      <dt>state</dt><dd>${n.Status?.State}${n.Status?.Message ? ' — ' + n.Status.Message : ''}</dd>
      <dt>address</dt><dd>${n.Status?.Addr}</dd>
      <dt>platform</dt><dd>${n.Description?.Platform?.OS}/${n.Description?.Platform?.Architecture}</dd>
      <dt>engine</dt><dd>${n.Description?.Engine?.EngineVersion}</dd>
      <dt>CPUs</dt><dd>${formatCPU(res.NanoCPUs)}</dd>
      <dt>memory</dt><dd>${formatBytes(res.MemoryBytes)}</dd>
      ${(res.GenericResources || []).map((g, i) => html`<dt key=${'g' + i}>${g.DiscreteResourceSpec?.Kind || g.NamedResourceSpec?.Kind}</dt>
        <dd key=${'v' + i}>${g.DiscreteResourceSpec?.Value ?? g.NamedResourceSpec?.Value}</dd>`)}
    </dl>
    <h2>labels</h2>
    ${!labels.length && !engineLabels.length && html`<p class="dim">none</p>`}
    <ul class="labels">
      ${labels.map(([k, v]) => html`<li key=${'n' + k}><code>node.labels.${k}=${v}</code></li>`)}
      ${engineLabels.map(([k, v]) => html`<li key=${'e' + k}><code>engine.labels.${k}=${v}</code></li>`)}
    </ul>
    <h2>tasks (${tasks.length})</h2>
    <div class="cards wrap">${tasks.map((t) => html`<${TaskCard} key=${t.ID} task=${t} service=${s.services.get(t.ServiceID)} />`)}</div>
  </div>`;
}
