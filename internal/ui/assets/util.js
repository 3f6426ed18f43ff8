// Small helpers shared by the views.

import { h, Component } from './vendor/preact.mjs';

const shallowEqual = (a, b) => {
  for (const k in a) if (a[k] !== b[k]) return false;
  for (const k in b) if (!(k in a)) return false;
  return true;
};

// memo renders fn again only when its props change (by equal, shallow
// by default); preact/compat has one, this spares loading compat.
export function memo(fn, equal = shallowEqual) {
  class Memo extends Component {
    shouldComponentUpdate(next) { return !equal(this.props, next); }
    render(props) { return h(fn, props); }
  }
  Memo.displayName = 'memo(' + (fn.name || 'anonymous') + ')';
  return Memo;
}

// shortImage drops the digest the CLI pins images with.
export const shortImage = (img) => (img || '').replace(/@sha256:[0-9a-f]+$/, '');

// taskName is docker service ps's: service.slot, or service.node for a
// global service's task.
export function taskName(t, svc) {
  const name = svc?.Spec?.Name || t.ServiceID.slice(0, 12);
  return t.Slot ? name + '.' + t.Slot : name + '.' + (t.NodeID || '').slice(0, 12);
}

export const nodeName = (n) => n.Description?.Hostname || n.ID.slice(0, 12);
export const byName = (a, b) => nodeName(a).localeCompare(nodeName(b), undefined, { numeric: true });

export const stackOf = (svc) => svc.Spec?.Labels?.['com.docker.stack.namespace'] || '';

// healthOf is a task's health when its container has a check: the agent
// reports it starting until the check first passes.
export function healthOf(t) {
  const hc = t.Spec?.ContainerSpec?.Healthcheck;
  if (!hc || !hc.Test || hc.Test[0] === 'NONE') return '';
  switch (t.Status?.State) {
    case 'starting': return 'starting';
    case 'running': return 'healthy';
    default: return '';
  }
}

export function portsOf(svc) {
  const ports = svc.Endpoint?.Ports || svc.Endpoint?.Spec?.Ports || [];
  return ports.map((p) => `${p.PublishedPort ?? ''}:${p.TargetPort}/${p.Protocol || 'tcp'}${p.PublishMode === 'host' ? ' (host)' : ''}`).join(', ');
}

export function formatBytes(n) {
  if (!n) return '0';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export const formatCPU = (nano) => (nano ? (nano / 1e9).toFixed(2).replace(/\.?0+$/, '') : '0');

export const ago = (iso) => {
  const t = Date.parse(iso);
  if (!t) return '';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
};
