// The cluster as the page knows it: nodes, services and current tasks
// read from the Engine API, read again (debounced) on every event of the
// event stream. Docker's event stream has no task events, so while any
// task is on its way to its desired state the tasks are also read every
// second, and otherwise every five seconds; that slow read is all there
// is when the daemon has no /events.

import { get, lines, filters } from './api.js';

export const FAST_POLL_MS = 1000;
export const SLOW_POLL_MS = 5000;
const DEBOUNCE_MS = 100;
const EVENTS_KEPT = 500;

// The tasks the board shows: those meant to run. History is read per
// service, when a service is looked at.
const CURRENT = filters({ 'desired-state': ['running', 'ready', 'accepted'] });

const SETTLED = new Set(['running', 'complete', 'shutdown', 'failed', 'rejected', 'orphaned', 'remove']);

// merge returns a Map of list by ID in which every object that did not
// change (same key) is the previous one, so that memoised components
// skip it; prev itself when nothing changed at all.
export function merge(prev, list, key) {
  const next = new Map();
  let changed = prev.size !== list.length;
  for (const o of list) {
    const p = prev.get(o.ID);
    if (p && key(p) === key(o)) next.set(o.ID, p);
    else { next.set(o.ID, o); changed = true; }
  }
  return changed ? next : prev;
}

const version = (o) => o.Version?.Index;
// A service's status (running/desired) changes without its version.
const serviceKey = (s) => `${s.Version?.Index}/${s.ServiceStatus?.RunningTasks}/${s.ServiceStatus?.DesiredTasks}/${s.ServiceStatus?.CompletedTasks}`;

// converging says whether any task is still on its way: then the tasks
// are read often.
export function converging(tasks, services) {
  for (const t of tasks.values()) {
    if (t.DesiredState === 'running' && !SETTLED.has(t.Status?.State)) return true;
  }
  for (const s of services.values()) {
    const u = s.UpdateStatus?.State;
    if (u === 'updating' || u === 'rollback_started') return true;
  }
  return false;
}

export class Cluster {
  constructor() {
    this.state = {
      nodes: new Map(), services: new Map(), tasks: new Map(), progress: new Map(),
      info: null, error: null, events: [], live: false, liveError: '', refreshed: 0,
    };
    this.listeners = new Set();
    this.timer = 0;
    this.poll = 0;
    this.busy = false;
    this.again = false;
    this.pending = []; // events not yet in state.events
    this.lastNano = 0; // the newest event's timeNano, to resume after it
  }

  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  set(patch) {
    this.state = { ...this.state, ...patch };
    for (const fn of this.listeners) fn(this.state);
  }

  start() {
    get('/info').then((info) => this.set({ info })).catch(() => {});
    this.refresh();
    this.watchEvents();
  }

  // soon reads the cluster after a short pause, so that a burst of events
  // costs one read.
  soon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), DEBOUNCE_MS);
  }

  async refresh() {
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    clearTimeout(this.poll);
    const s = this.state;
    try {
      const [nodes, services, tasks] = await Promise.all([
        get('/nodes'), get('/services?status=true'), get('/tasks?' + CURRENT),
      ]);
      const next = {
        nodes: merge(s.nodes, nodes, version),
        services: merge(s.services, services, serviceKey),
        tasks: merge(s.tasks, tasks, version),
      };
      next.progress = await this.updateProgress(next.services);
      this.set({ ...next, events: this.takeEvents(), error: null, refreshed: Date.now() });
    } catch (e) {
      this.set({ events: this.takeEvents(), error: e.message });
    }
    this.busy = false;
    if (this.again) { this.again = false; this.soon(); }
    const st = this.state;
    this.poll = setTimeout(() => this.refresh(), converging(st.tasks, st.services) ? FAST_POLL_MS : SLOW_POLL_MS);
  }

  // updateProgress counts, for each service in a rolling update, the
  // running tasks made from its current spec, as the docker CLI's
  // progress bars do.
  async updateProgress(services) {
    const out = new Map();
    const updating = [...services.values()].filter((s) => ['updating', 'rollback_started'].includes(s.UpdateStatus?.State));
    await Promise.all(updating.map(async (s) => {
      const ts = await get('/tasks?' + filters({ service: [s.ID], 'desired-state': ['running'], '_up-to-date': ['true'] }));
      out.set(s.ID, ts.filter((t) => t.Status?.State === 'running').length);
    }));
    return out;
  }

  async watchEvents() {
    // The first time, replay the last quarter hour for the feed; after a
    // break, resume from the last event seen.
    const since = this.lastNano ? Math.floor(this.lastNano / 1e9) : Math.floor(Date.now() / 1000) - 900;
    try {
      for await (const line of lines('/events?since=' + since, () => this.set({ live: true, liveError: '' }))) {
        let ev;
        try { ev = JSON.parse(line); } catch { continue; }
        if (ev.timeNano && ev.timeNano <= this.lastNano) continue;
        this.lastNano = ev.timeNano || this.lastNano;
        this.pending.push(ev);
        this.soon();
      }
      this.set({ live: false, liveError: 'the event stream ended' });
    } catch (e) {
      this.set({ live: false, liveError: e.status === 404 ? 'this daemon has no event stream' : e.message });
    }
    setTimeout(() => this.watchEvents(), SLOW_POLL_MS);
  }

  // takeEvents moves the events that arrived since the last read into
  // the feed, newest first.
  takeEvents() {
    if (!this.pending.length) return this.state.events;
    const events = [...this.pending.reverse(), ...this.state.events];
    this.pending = [];
    if (events.length > EVENTS_KEPT) events.length = EVENTS_KEPT;
    return events;
  }
}
