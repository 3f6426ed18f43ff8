// Shoal's web UI: the board (nodes as columns, their tasks as cards),
// services and stacks, a service's tasks and logs, a node's details with
// drain and activate, the event feed, and zones. Rendering is keyed and
// memoised: an unchanged task keeps its object (cluster.js merge), so a
// read of 5,000 tasks re-renders only the cards that changed.

import { h, render } from './vendor/preact.mjs';
import { useState, useEffect, useMemo } from './vendor/hooks.mjs';
import htm from './vendor/htm.mjs';
import { Cluster } from './cluster.js';
import { memo, shortImage, taskName, byName, nodeName, portsOf, stackOf } from './util.js';
import { TaskCard } from './card.js';
import { ServiceView } from './service.js';
import { NodeView } from './node.js';

const html = htm.bind(h);
const cluster = new Cluster();

function useCluster() {
  const [state, setState] = useState(cluster.state);
  useEffect(() => cluster.subscribe(setState), []);
  return state;
}

function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash.replace(/^#\/?/, '').split('/');
}

// columnEqual lets a column skip rendering when its tasks are the same
// objects as before.
const columnEqual = (a, b) => a.node === b.node && a.services === b.services && a.tasks.length === b.tasks.length && a.tasks.every((t, i) => t === b.tasks[i]);

const NodeColumn = memo(function NodeColumn({ node, tasks, services }) {
  const st = node?.Status?.State;
  const avail = node?.Spec?.Availability;
  return html`<section class=${'column' + (node ? ' n-' + st + ' a-' + avail : ' unassigned')} data-node=${node?.ID || ''}>
    <header>
      ${node ? html`<a href=${'#/node/' + node.ID} class="column-name">${nodeName(node)}</a>
        <span class="column-meta">${node.Spec?.Role}${node.ManagerStatus?.Leader ? ' (leader)' : ''} · ${st} · <span data-availability>${avail}</span></span>`
        : html`<span class="column-name">unassigned</span><span class="column-meta">tasks no node can take yet</span>`}
      <span class="column-count">${tasks.length}</span>
    </header>
    <div class="cards">${tasks.map((t) => html`<${TaskCard} key=${t.ID} task=${t} service=${services.get(t.ServiceID)} />`)}</div>
  </section>`;
}, columnEqual);

// groupTasks sorts tasks into their nodes, each sorted by name.
function groupTasks(tasks, services) {
  const by = new Map();
  for (const t of tasks.values()) {
    const k = t.NodeID || '';
    if (!by.has(k)) by.set(k, []);
    by.get(k).push(t);
  }
  for (const list of by.values()) list.sort((a, b) => taskName(a, services.get(a.ServiceID)).localeCompare(taskName(b, services.get(b.ServiceID)), undefined, { numeric: true }));
  return by;
}

function Board({ s }) {
  const grouped = useMemo(() => groupTasks(s.tasks, s.services), [s.tasks, s.services]);
  const nodes = useMemo(() => [...s.nodes.values()].sort(byName), [s.nodes]);
  const none = [];
  return html`<div class="board">
    ${grouped.has('') && html`<${NodeColumn} key="" node=${null} tasks=${grouped.get('')} services=${s.services} />`}
    ${nodes.map((n) => html`<${NodeColumn} key=${n.ID} node=${n} tasks=${grouped.get(n.ID) || none} services=${s.services} />`)}
  </div>`;
}

function Services({ s }) {
  const stacks = useMemo(() => {
    const by = new Map();
    for (const svc of s.services.values()) {
      const k = stackOf(svc);
      if (!by.has(k)) by.set(k, []);
      by.get(k).push(svc);
    }
    for (const l of by.values()) l.sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name));
    return [...by.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [s.services]);
  if (!s.services.size) return html`<p class="empty">No services. <code>docker service create</code> makes one.</p>`;
  return html`<div class="services">${stacks.map(([stack, list]) => html`
    <section class="stack" key=${stack}>
      <h2>${stack ? 'stack ' + stack : 'services outside stacks'}</h2>
      <table>
        <thead><tr><th>name</th><th>mode</th><th>replicas</th><th>image</th><th>ports</th><th>update</th></tr></thead>
        <tbody>${list.map((svc) => html`<${ServiceRow} key=${svc.ID} svc=${svc} progress=${s.progress.get(svc.ID)} />`)}</tbody>
      </table>
    </section>`)}</div>`;
}

const ServiceRow = memo(function ServiceRow({ svc, progress }) {
  const st = svc.ServiceStatus || {};
  const mode = svc.Spec.Mode?.Global ? 'global' : svc.Spec.Mode?.ReplicatedJob ? 'replicated job' : svc.Spec.Mode?.GlobalJob ? 'global job' : 'replicated';
  const u = svc.UpdateStatus;
  const ok = st.RunningTasks >= st.DesiredTasks;
  return html`<tr data-service-row=${svc.Spec.Name}>
    <td><a href=${'#/service/' + svc.ID}>${svc.Spec.Name}</a></td>
    <td>${mode}</td>
    <td class=${ok ? 'ok' : 'short'} data-replicas>${st.RunningTasks ?? '?'}/${st.DesiredTasks ?? '?'}</td>
    <td>${shortImage(svc.Spec.TaskTemplate?.ContainerSpec?.Image)}</td>
    <td>${portsOf(svc)}</td>
    <td>${u ? html`<span class=${'u-' + u.State}>${u.State}</span>
      ${progress !== undefined && html` <progress max=${st.DesiredTasks || 1} value=${progress}></progress> ${progress}/${st.DesiredTasks}`}
      <div class="dim">${u.Message}</div>` : ''}</td>
  </tr>`;
});

function Events({ s }) {
  return html`<div class="events">
    ${!s.live && html`<p class="notice">Event stream: ${s.liveError || 'connecting'}; reading the cluster every ${5} s.</p>`}
    ${!s.events.length && html`<p class="empty">No events yet.</p>`}
    <table><tbody>${s.events.map((e, i) => html`<${EventRow} key=${(e.timeNano || 0) + e.Type + e.Action + (e.Actor?.ID || '') + i} e=${e} />`)}</tbody></table>
  </div>`;
}

const EventRow = memo(function EventRow({ e }) {
  const attrs = Object.entries(e.Actor?.Attributes || {}).filter(([k]) => k !== 'name');
  return html`<tr data-event=${e.Type + ' ' + e.Action}>
    <td class="dim">${new Date((e.time || 0) * 1000).toLocaleTimeString()}</td>
    <td>${e.Type}</td><td><b>${e.Action}</b></td><td>${e.Actor?.Attributes?.name || (e.Actor?.ID || '').slice(0, 12)}</td>
    <td class="dim">${attrs.map(([k, v]) => k + '=' + v).join(' ')}</td>
  </tr>`;
});

// labelsOf is what a node can be grouped by: its own labels and its
// engine's.
function labelsOf(n) {
  const out = {};
  for (const [k, v] of Object.entries(n.Spec?.Labels || {})) out['node.labels.' + k] = v;
  for (const [k, v] of Object.entries(n.Description?.Engine?.Labels || {})) out['engine.labels.' + k] = v;
  return out;
}

function Topology({ s }) {
  const keys = useMemo(() => {
    const set = new Set();
    for (const n of s.nodes.values()) for (const k of Object.keys(labelsOf(n))) set.add(k);
    return [...set].sort();
  }, [s.nodes]);
  const [chosen, setChosen] = useState('');
  const key = keys.includes(chosen) ? chosen : keys.find((k) => /zone/.test(k)) || keys[0] || '';
  const groups = useMemo(() => {
    const by = new Map();
    for (const n of [...s.nodes.values()].sort(byName)) {
      const v = labelsOf(n)[key] ?? '(none)';
      if (!by.has(v)) by.set(v, []);
      by.get(v).push(n);
    }
    return [...by.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [s.nodes, key]);
  const grouped = useMemo(() => groupTasks(s.tasks, s.services), [s.tasks, s.services]);
  return html`<div class="topology">
    <label>group nodes by <select value=${key} onChange=${(e) => setChosen(e.target.value)}>
      ${keys.map((k) => html`<option key=${k} value=${k}>${k}</option>`)}</select></label>
    ${!keys.length && html`<p class="empty">No node has a label: <code>docker node update --label-add zone=a NODE</code> gives one.</p>`}
    <div class="zones">${groups.map(([value, nodes]) => html`<${Zone} key=${value} label=${key} value=${value} nodes=${nodes} grouped=${grouped} services=${s.services} />`)}</div>
  </div>`;
}

function Zone({ label, value, nodes, grouped, services }) {
  const counts = new Map();
  let total = 0;
  for (const n of nodes) for (const t of grouped.get(n.ID) || []) {
    const name = services.get(t.ServiceID)?.Spec?.Name || t.ServiceID.slice(0, 12);
    counts.set(name, (counts.get(name) || 0) + 1);
    total++;
  }
  return html`<section class="zone" data-zone=${value}>
    <h2>${label.replace(/^(node|engine)\.labels\./, '')}=${value}</h2>
    <div class="dim">${nodes.length} node${nodes.length === 1 ? '' : 's'}, ${total} task${total === 1 ? '' : 's'}</div>
    <div class="chips">${[...counts.entries()].sort().map(([n, c]) => html`<span class="chip" key=${n}>${n} ×${c}</span>`)}</div>
    ${nodes.map((n) => html`<div class="zone-node" key=${n.ID}>
      <a href=${'#/node/' + n.ID}>${nodeName(n)}</a>
      <span class="dots">${(grouped.get(n.ID) || []).map((t) => html`<span key=${t.ID} class=${'dot s-' + t.Status?.State} title=${taskName(t, services.get(t.ServiceID)) + ' ' + t.Status?.State}></span>`)}</span>
    </div>`)}
  </section>`;
}

function Summary({ s }) {
  const counts = useMemo(() => {
    const c = {};
    for (const t of s.tasks.values()) c[t.Status?.State] = (c[t.Status?.State] || 0) + 1;
    return Object.entries(c).sort();
  }, [s.tasks]);
  return html`<span class="summary">
    ${s.nodes.size} nodes · ${s.services.size} services · ${counts.map(([k, v]) => html`<span key=${k} class=${'tally s-' + k}>${v} ${k}</span>`)}
  </span>`;
}

const views = [['', 'nodes'], ['services', 'services'], ['topology', 'zones'], ['events', 'events']];

function App() {
  const s = useCluster();
  const [view, id] = useRoute();
  let body;
  switch (view) {
    case 'services': body = html`<${Services} s=${s} />`; break;
    case 'service': body = html`<${ServiceView} key=${id} id=${id} s=${s} cluster=${cluster} />`; break;
    case 'node': body = html`<${NodeView} key=${id} id=${id} s=${s} cluster=${cluster} />`; break;
    case 'events': body = html`<${Events} s=${s} />`; break;
    case 'topology': body = html`<${Topology} s=${s} />`; break;
    default: body = html`<${Board} s=${s} />`;
  }
  return html`<header class="top">
      <span class="brand">Shoal${s.info?.Name ? ' · ' + s.info.Name : ''}</span>
      <nav>${views.map(([v, label]) => html`<a key=${v} href=${'#/' + v} class=${view === v ? 'on' : ''}>${label}</a>`)}</nav>
      <${Summary} s=${s} />
      <span class=${'live ' + (s.live ? 'on' : 'off')} title=${s.liveError}>${s.live ? 'live' : 'polling'}</span>
    </header>
    ${s.error && html`<p class="error" data-error>${s.error}</p>`}
    <main>${body}</main>`;
}

render(html`<${App} />`, document.getElementById('app'));
cluster.start();
// For tests and measurements: the page's model, read-only by convention.
window.shoal = cluster;
