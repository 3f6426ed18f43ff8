package faults

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
)

// checkTimeout bounds porcupine on one history; a history it cannot
// decide in time is reported as such, not as an anomaly.
const checkTimeout = 60 * time.Second

// Linearizability is porcupine's verdict on a history.
type Linearizability struct {
	Result porcupine.CheckResult
	info   porcupine.LinearizationInfo
}

// checkLinearizable checks h against Model. With lenient, the reads made
// while faults ran may return an earlier state (a lagging manager's);
// the final reads after healing never may.
func checkLinearizable(h []porcupine.Operation, lenient bool, finalFrom int64) Linearizability {
	if lenient {
		h = slices.Clone(h)
		for i, op := range h {
			in := op.Input.(Input)
			if in.Op == OpRead && op.Call < finalFrom {
				in.Lenient = true
				h[i].Input = in
			}
		}
	}
	res, info := porcupine.CheckOperationsVerbose(Model(), h, checkTimeout)
	return Linearizability{Result: res, info: info}
}

// visualize writes porcupine's HTML view of the history and the longest
// linearizations it found.
func (l Linearizability) visualize(w io.Writer) error {
	return porcupine.Visualize(Model(), l.info, w)
}

// lostWrites returns, per service, the acknowledged write that was last
// beyond doubt — every other write that may have applied ended before it
// began — when the final state is not the one it left.
func lostWrites(h []porcupine.Operation, final map[string]Output) []string {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range h {
		in, out := op.Input.(Input), op.Output.(Output)
		if in.Op == OpRead || !(out.Outcome == OK || out.Outcome == Unknown) {
			continue
		}
		byKey[in.Key] = append(byKey[in.Key], op)
	}
	var out []string
	for _, key := range sortedKeys(byKey) {
		ws := byKey[key]
		last := slices.MaxFunc(ws, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
		if last.Output.(Output).Outcome != OK {
			continue
		}
		alone := true
		for _, w := range ws {
			if w != last && w.Return >= last.Call {
				alone = false
			}
		}
		if !alone {
			continue
		}
		in, f := last.Input.(Input), final[key]
		switch {
		case in.Op == OpRemove && f.Outcome != NotFound:
			out = append(out, fmt.Sprintf("%s: removed (acknowledged at %s), but after healing it has value %d", key, at(last.Return), f.Value))
		case in.Op != OpRemove && (f.Outcome != OK || f.Value != in.Value):
			out = append(out, fmt.Sprintf("%s: value %d acknowledged at %s by %s, but after healing it reads %s", key, in.Value, at(last.Return), last.Output.(Output).Manager, describeRead(f)))
		}
	}
	return out
}

// refusedApplied returns every read that saw the value of a write the
// API refused (a 4xx: nothing was changed), and counts the writes
// answered with a 5xx whose value was seen later: those are not wrong
// (the answer did not say nothing was done) but a client may be misled.
func refusedApplied(h []porcupine.Operation) (anomalies []string, applied5xx int) {
	writes := map[int]porcupine.Operation{}
	for _, op := range h {
		if in := op.Input.(Input); in.Op == OpCreate || in.Op == OpUpdate {
			writes[in.Value] = op
		}
	}
	seen5xx := map[int]bool{}
	for _, op := range h {
		in, out := op.Input.(Input), op.Output.(Output)
		if in.Op != OpRead || out.Outcome != OK {
			continue
		}
		w, ok := writes[out.Value]
		if !ok {
			anomalies = append(anomalies, fmt.Sprintf("%s: read value %d at %s via %s, which no client wrote", in.Key, out.Value, at(op.Call), out.Manager))
			continue
		}
		wo := w.Output.(Output)
		switch wo.Outcome {
		case Exists, Stale, NotFound, Refused:
			anomalies = append(anomalies, fmt.Sprintf("%s: read value %d at %s via %s, written by a %s refused %s (%d %q)",
				in.Key, out.Value, at(op.Call), out.Manager, w.Input.(Input).Op, wo.Outcome, wo.Status, wo.Message))
		case Unknown:
			if wo.Status >= 500 && !seen5xx[out.Value] {
				seen5xx[out.Value] = true
				applied5xx++
			}
		}
	}
	return anomalies, applied5xx
}

// Placement is what the cluster runs, as the leader's store and every
// host's containers show it.
type Placement struct {
	Leader     string // the host whose store the rest was read from
	Services   []swarm.Service
	Tasks      []swarm.Task
	Nodes      []swarm.Node
	Containers map[string][]container.Summary // running task containers, by host
}

// convergence says why the services are not all at their replica count
// yet ("" when they are), and what is wrong beyond waiting: two tasks
// running for one slot in the store. Two containers running for one slot
// are only waiting: a node cut off from the managers runs its tasks on
// while their replacements start elsewhere, as in Swarm, and stops them
// once it hears from a manager again.
func convergence(p Placement) (waiting string, duplicates []string) {
	up := map[string]bool{}
	for _, n := range p.Nodes {
		up[n.ID] = n.Status.State == swarm.NodeStateReady
	}
	type slotKey struct {
		service string
		slot    int
	}
	running := map[slotKey]int{}
	for _, t := range p.Tasks {
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning && up[t.NodeID] {
			running[slotKey{t.ServiceID, t.Slot}]++
		}
	}
	containers := map[slotKey][]string{}
	for _, host := range sortedKeys(p.Containers) {
		for _, c := range p.Containers[host] {
			// Task containers are named SERVICE.SLOT.TASKID.
			name := strings.TrimPrefix(firstOr(c.Names, ""), "/")
			parts := strings.Split(name, ".")
			if len(parts) != 3 {
				continue
			}
			slot, _ := strconv.Atoi(parts[1])
			k := slotKey{c.Labels["com.docker.swarm.service.id"], slot}
			containers[k] = append(containers[k], host+":"+name)
		}
	}
	names := map[string]string{}
	var reasons []string
	for _, s := range p.Services {
		names[s.ID] = s.Spec.Name
		want := 0
		if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
			want = int(*r.Replicas)
		}
		slots, cslots := 0, 0
		for k, n := range running {
			if k.service == s.ID && n > 0 {
				slots++
			}
		}
		for k, cs := range containers {
			if k.service == s.ID && len(cs) > 0 {
				cslots++
			}
		}
		if slots != want || cslots != want {
			reasons = append(reasons, fmt.Sprintf("%s: %d slots with a running task, %d with a running container, want %d", s.Spec.Name, slots, cslots, want))
		}
	}
	for k, cs := range containers {
		if len(cs) > 1 {
			reasons = append(reasons, fmt.Sprintf("%s slot %d: %d running containers (%s)", names[k.service], k.slot, len(cs), strings.Join(cs, ", ")))
		}
	}
	for k, cs := range containers {
		if _, ok := names[k.service]; !ok {
			reasons = append(reasons, fmt.Sprintf("containers of removed service %s still run: %s", k.service, strings.Join(cs, ", ")))
		}
	}
	sort.Strings(reasons)
	waiting = strings.Join(reasons, "; ")
	for k, n := range running {
		if n > 1 {
			duplicates = append(duplicates, fmt.Sprintf("%s slot %d: %d running tasks", names[k.service], k.slot, n))
		}
	}
	sort.Strings(duplicates)
	return waiting, duplicates
}

// shortTasks lists the tasks of the services not at their replica count,
// a line each (service, slot, node, desired and current state, message,
// error, when), for a run that did not converge to say where they stuck.
func shortTasks(p Placement) []string {
	waiting, _ := convergence(p)
	hosts := map[string]string{}
	for _, n := range p.Nodes {
		hosts[n.ID] = n.Description.Hostname + "(" + string(n.Status.State) + ")"
	}
	var out []string
	for _, s := range p.Services {
		if !strings.Contains(waiting, s.Spec.Name+":") {
			continue
		}
		out = append(out, fmt.Sprintf("  %s v%d: %d tasks", s.Spec.Name, s.Version.Index, countTasks(p.Tasks, s.ID)))
		for _, t := range p.Tasks {
			if t.ServiceID != s.ID {
				continue
			}
			host := hosts[t.NodeID]
			if host == "" {
				host = "no node"
			}
			out = append(out, fmt.Sprintf("    slot %d %s on %s: desired %s, %s %q %q at %s, v%d",
				t.Slot, t.ID, host, t.DesiredState, t.Status.State,
				t.Status.Message, t.Status.Err, t.Status.Timestamp.Format("15:04:05.000"), t.Version.Index))
		}
	}
	return out
}

func countTasks(ts []swarm.Task, service string) int {
	n := 0
	for _, t := range ts {
		if t.ServiceID == service {
			n++
		}
	}
	return n
}

func firstOr(s []string, def string) string {
	if len(s) == 0 {
		return def
	}
	return s[0]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func at(ns int64) string { return fmt.Sprintf("%.3fs", time.Duration(ns).Seconds()) }

func describeRead(o Output) string {
	switch o.Outcome {
	case OK:
		return fmt.Sprintf("value %d at version %d", o.Value, o.Version)
	case NotFound:
		return "absent"
	}
	return fmt.Sprintf("%s (%d %s)", o.Outcome, o.Status, o.Message)
}

// staleReads returns the reads that certainly returned an overwritten
// value: the write of the value they saw was acknowledged, then another
// write of the service was, all before the read began.
func staleReads(h []porcupine.Operation) []string {
	writes := map[int]porcupine.Operation{}
	var acked []porcupine.Operation
	for _, op := range h {
		in, out := op.Input.(Input), op.Output.(Output)
		if in.Op == OpRead {
			continue
		}
		if in.Op != OpRemove {
			writes[in.Value] = op
		}
		if out.Outcome == OK {
			acked = append(acked, op)
		}
	}
	var out []string
	for _, r := range h {
		in, res := r.Input.(Input), r.Output.(Output)
		if in.Op != OpRead || res.Outcome != OK {
			continue
		}
		w, ok := writes[res.Value]
		if !ok {
			continue
		}
		for _, later := range acked {
			if later.Input.(Input).Key == in.Key && later.Input != w.Input && later.Call > w.Return && later.Return < r.Call {
				out = append(out, fmt.Sprintf("%s: read at %s via %s saw value %d, overwritten by %s acknowledged at %s",
					in.Key, at(r.Call), res.Manager, res.Value, describe(later.Input.(Input), later.Output.(Output)), at(later.Return)))
				break
			}
		}
	}
	return out
}

// explain finds, for each service whose calls alone are not
// linearizable, the shortest prefix of them (by invocation) that is not,
// and prints its last calls: the last one is where the history went
// wrong, or close to it.
func explain(h []porcupine.Operation, lenient bool, finalFrom int64) []string {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range h {
		k := op.Input.(Input).Key
		byKey[k] = append(byKey[k], op)
	}
	var out []string
	for _, key := range sortedKeys(byKey) {
		ops := byKey[key]
		if checkLinearizable(ops, lenient, finalFrom).Result != porcupine.Illegal {
			continue
		}
		n := sort.Search(len(ops), func(n int) bool {
			return checkLinearizable(ops[:n+1], lenient, finalFrom).Result == porcupine.Illegal
		}) + 1
		first := max(0, n-12)
		var b strings.Builder
		fmt.Fprintf(&b, "%s: not linearizable from call %d of %d on; its last calls:\n", key, n, len(ops))
		for _, op := range ops[first:n] {
			ret := at(op.Return)
			if op.Output.(Output).Outcome == Unknown {
				ret = "?"
			}
			fmt.Fprintf(&b, "  [%s, %s] client %d: %s\n", at(op.Call), ret, op.ClientId, describe(op.Input.(Input), op.Output.(Output)))
		}
		out = append(out, b.String())
	}
	return out
}
