package dispatcher

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/rpc"
	"github.com/shoal-project/shoal/internal/store"
)

// padded returns t with an environment variable making its encoding n
// bytes.
func padded(t *testing.T, task *store.Task, n int) *store.Task {
	t.Helper()
	c := *task
	cs := *c.Spec.ContainerSpec
	cs.Env = []string{"PAD="}
	c.Spec.ContainerSpec = &cs
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	if n < len(b) {
		t.Fatalf("cannot pad %s to %d bytes: it has %d already", task.ID, n, len(b))
	}
	cs.Env = []string{"PAD=" + strings.Repeat("x", n-len(b))}
	return &c
}

func encoded(t *testing.T, v any) int {
	t.Helper()
	n, err := limits.EncodedSize(v)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFit(t *testing.T) {
	const room = 4096
	small := using("small", "n1", swarm.TaskStateAssigned, []string{"s1"}, []string{"c1"})
	bigSecret := secret("s2", "")
	bigSecret.Spec.Data = []byte(strings.Repeat("s", room))
	bigConfig := config("c2")
	bigConfig.Spec.Data = []byte(strings.Repeat("c", room))
	needsSecret := using("needs-secret", "n1", swarm.TaskStateAssigned, []string{"s2"}, nil)
	needsConfig := using("needs-config", "n1", swarm.TaskStateRunning, nil, []string{"c2"})
	endedWithSecret := using("ended", "n1", swarm.TaskStateFailed, []string{"s2"}, nil)
	big := task("big", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning)
	tests := []struct {
		name     string
		view     nodeView
		want     []string // IDs of what is sent: tasks, then secrets, then configs
		wantLeft []string // "task: why"
	}{
		{
			name: "everything fits",
			view: nodeView{tasks: []*store.Task{small}, secrets: []*store.Secret{secret("s1", "")}, configs: []*store.Config{config("c1")}},
			want: []string{"small", "s1", "c1"},
		},
		{
			name:     "a task past the room is left out",
			view:     nodeView{tasks: []*store.Task{padded(t, big, room+1), small}},
			want:     []string{"small"},
			wantLeft: []string{fmt.Sprintf("big: task is %d bytes encoded, more than the %d a message to a node may carry", room+1, room)},
		},
		{
			name: "a task of the room exactly goes",
			view: nodeView{tasks: []*store.Task{padded(t, big, room)}},
			want: []string{"big"},
		},
		{
			name: "a secret or config past the room is left out with the tasks that need it",
			view: nodeView{
				tasks:   []*store.Task{needsSecret, needsConfig, small},
				secrets: []*store.Secret{secret("s1", ""), bigSecret},
				configs: []*store.Config{config("c1"), bigConfig},
			},
			want: []string{"small", "s1", "c1"},
			wantLeft: []string{
				fmt.Sprintf("needs-secret: secret s2 is %d bytes encoded, more than the %d a message to a node may carry", encoded(t, bigSecret), room),
				fmt.Sprintf("needs-config: config c2 is %d bytes encoded, more than the %d a message to a node may carry", encoded(t, bigConfig), room),
			},
		},
		{
			name: "an ended task needs no secret: it goes",
			view: nodeView{tasks: []*store.Task{endedWithSecret}, secrets: []*store.Secret{bigSecret}},
			want: []string{"ended"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sz sizer
			got, left := fit(&tt.view, room, &sz)
			ids := setIDs(AssignmentSet{Tasks: got.tasks, Secrets: got.secrets, Configs: got.configs})
			var whys []string
			for _, l := range left {
				whys = append(whys, l.task.ID+": "+l.why)
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("sent (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLeft, whys); diff != "" {
				t.Errorf("left out (-want +got):\n%s", diff)
			}
		})
	}
}

// Any set that fit let through is split into messages within the limit,
// which together hold the set in its order; every part says Full as the
// set does, and all but the last say More.
func TestSplitStaysWithinTheLimit(t *testing.T) {
	const limit = 16 << 10
	rng := rand.New(rand.NewPCG(1, 2))
	wide := &clusterWide{period: 5 * time.Second, managers: []string{"10.0.0.1:2377"}, rootCA: swarm.TLSInfo{TrustRoot: strings.Repeat("r", 1500)}}
	for i := range 300 {
		cur := &nodeView{node: &store.Node{Node: swarm.Node{ID: "n1"}}, wide: wide}
		for j := range rng.IntN(20) {
			cur.tasks = append(cur.tasks, padded(t, task(fmt.Sprintf("t%02d", j), "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning), 400+rng.IntN(limit)))
		}
		for j := range rng.IntN(5) {
			s := secret(fmt.Sprintf("s%d", j), "")
			s.Spec.Data = []byte(strings.Repeat("s", rng.IntN(limit)))
			cur.secrets = append(cur.secrets, s)
		}
		for j := range rng.IntN(5) {
			c := config(fmt.Sprintf("c%d", j))
			c.Spec.Data = []byte(strings.Repeat("c", rng.IntN(limit)))
			cur.configs = append(cur.configs, c)
		}
		var sz sizer
		base, room, err := envelope("session", cur, limit)
		if err != nil {
			t.Fatal(err)
		}
		sendable, _ := fit(cur, room, &sz)
		set := AssignmentSet{Full: i%2 == 0, Tasks: sendable.tasks, Secrets: sendable.secrets, Configs: sendable.configs}
		parts := split(set, room, &sz)
		var whole AssignmentSet
		for k, p := range parts {
			msg := base
			msg.Assignments = p
			if n := encoded(t, &msg); n > limit {
				t.Fatalf("set %d part %d: got a message of %d bytes, want at most %d", i, k, n, limit)
			}
			if p.Full != set.Full || p.More != (k < len(parts)-1) {
				t.Fatalf("set %d part %d of %d: got Full %v More %v", i, k, len(parts), p.Full, p.More)
			}
			whole.Tasks = append(whole.Tasks, p.Tasks...)
			whole.Secrets = append(whole.Secrets, p.Secrets...)
			whole.Configs = append(whole.Configs, p.Configs...)
		}
		if diff := cmp.Diff(setIDs(set), setIDs(whole)); diff != "" {
			t.Fatalf("set %d: the parts together (-want +got):\n%s", i, diff)
		}
	}
}

// A part filled to the byte, with objects of every kind and More, is
// still within the limit: the bound split packs to covers the lists'
// brackets and names.
func TestSplitFilledToTheByte(t *testing.T) {
	const limit = 16 << 10
	cur := &nodeView{node: &store.Node{Node: swarm.Node{ID: "n1"}}, wide: &clusterWide{period: time.Second}}
	base, room, err := envelope("session", cur, limit)
	if err != nil {
		t.Fatal(err)
	}
	a, b := room/3, room/3
	c := room - a - b - 3 // each object counts its comma
	tk := padded(t, task("t1", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning), a)
	sec := padLabels(t, secret("s1", ""), b)
	cfg := padLabels(t, config("c1"), c)
	next := padLabels(t, config("c2"), room/2)
	var sz sizer
	parts := split(AssignmentSet{Full: true, Tasks: []*store.Task{tk}, Secrets: []*store.Secret{sec}, Configs: []*store.Config{cfg, next}}, room, &sz)
	if len(parts) != 2 || len(parts[0].Secrets) != 1 || len(parts[0].Configs) != 1 || !parts[0].More {
		t.Fatalf("got parts %v, want the first with t1, the secret and the config, and More", parts)
	}
	for k, p := range parts {
		msg := base
		msg.Assignments = p
		if n := encoded(t, &msg); n > limit {
			t.Errorf("part %d: got a message of %d bytes, want at most %d", k, n, limit)
		}
	}
}

// padLabels returns o with a label making its encoding n bytes.
func padLabels[T interface{ *store.Secret | *store.Config }](t *testing.T, o T, n int) T {
	t.Helper()
	labels := func(o T) *map[string]string {
		switch o := any(o).(type) {
		case *store.Secret:
			return &o.Spec.Labels
		case *store.Config:
			return &o.Spec.Labels
		}
		return nil
	}
	*labels(o) = map[string]string{"pad": ""}
	m := encoded(t, o)
	if n < m {
		t.Fatalf("cannot pad to %d bytes: %d already", n, m)
	}
	*labels(o) = map[string]string{"pad": strings.Repeat("x", n-m)}
	return o
}

// setIDs lists a set's objects by ID: tasks, then secrets, then configs.
func setIDs(set AssignmentSet) []string {
	ids := taskIDs(set)
	for _, s := range set.Secrets {
		ids = append(ids, s.ID)
	}
	for _, c := range set.Configs {
		ids = append(ids, c.ID)
	}
	return ids
}

// A node object written past its limit reaches its agent as what the
// agent acts on; a smaller one goes whole.
func TestAgentNode(t *testing.T) {
	small := &store.Node{Node: swarm.Node{ID: "n1", Meta: swarm.Meta{Version: swarm.Version{Index: 4}}, Spec: swarm.NodeSpec{
		Annotations: swarm.Annotations{Labels: map[string]string{"zone": "a"}}, Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityDrain,
	}}}
	big := store.Clone(small)
	big.Spec.Labels["pad"] = strings.Repeat("x", limits.MaxObjectSize)
	if got := agentNode(small, &sizer{}); got != small {
		t.Errorf("a node within the limit was changed: %+v", got)
	}
	got := agentNode(big, &sizer{})
	if n := encoded(t, got); n > 1024 {
		t.Errorf("got a node of %d bytes for its agent, want a small one", n)
	}
	if got.ID != big.ID || got.Version != big.Version || got.Spec.Role != big.Spec.Role || got.Spec.Availability != big.Spec.Availability {
		t.Errorf("got %+v, want the node's ID, version, role and availability", got)
	}
}

// Trusted roots that would make the envelope more than half a message are
// left out of it; others stay.
func TestEnvelopeLeavesOutHugeRoots(t *testing.T) {
	const limit = 64 << 10
	for _, tt := range []struct {
		roots    int
		wantKept bool
	}{{1 << 10, true}, {limit, false}} {
		cur := &nodeView{node: &store.Node{Node: swarm.Node{ID: "n1"}}, wide: &clusterWide{rootCA: swarm.TLSInfo{TrustRoot: strings.Repeat("r", tt.roots)}}}
		base, room, err := envelope("s", cur, limit)
		if err != nil {
			t.Fatal(err)
		}
		if kept := base.RootCA.TrustRoot != ""; kept != tt.wantKept {
			t.Errorf("roots of %d bytes: got kept %v, want %v", tt.roots, kept, tt.wantKept)
		}
		if room <= limit/2-partSlack {
			t.Errorf("roots of %d bytes: got room %d, want more than half of %d", tt.roots, room, limit)
		}
	}
}

// Over a real session at the real limit: a set larger than one message
// arrives in parts the client accepts, a task larger than any message is
// rejected with an error saying why, and the session goes on.
func TestSessionSplitsAndLeavesOut(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	worker := m.addNode(t, ca.WorkerRole)
	third := rpc.MaxMessageSize / 3
	var tasks []*store.Task
	for i := range 4 {
		tasks = append(tasks, padded(t, assigned(fmt.Sprintf("t%d", i), worker.ID), third))
	}
	m.putTasks(t, tasks...)
	msgs, _ := openSession(t, t.Context(), m.client(t, &worker), nil)
	var got []string
	parts := 0
	for more := true; more; parts++ {
		msg := recv(t, msgs)
		if !msg.Assignments.Full {
			t.Fatalf("part %d is not Full, want every part of the first set to say so", parts)
		}
		got = append(got, taskIDs(msg.Assignments)...)
		more = msg.Assignments.More
	}
	if diff := cmp.Diff([]string{"t0", "t1", "t2", "t3"}, got); diff != "" || parts < 2 {
		t.Errorf("got %d parts (-want +got):\n%s; want the four tasks in at least two", parts, diff)
	}

	// Past the limit: left out, and rejected on the node's behalf.
	m.putTasks(t, padded(t, assigned("huge", worker.ID), rpc.MaxMessageSize+1))
	waitFor(t, "the huge task to be rejected", func() bool { return m.task("huge").Status.State == swarm.TaskStateRejected })
	if err := m.task("huge").Status.Err; !strings.Contains(err, "bytes encoded, more than the") {
		t.Errorf("got error %q, want one saying the task is too large to send", err)
	}
	m.putTasks(t, assigned("after", worker.ID))
	for {
		msg := recv(t, msgs)
		ids := taskIDs(msg.Assignments)
		if strings.Contains(strings.Join(ids, " "), "huge") {
			t.Fatalf("got the huge task in a message: %v", ids)
		}
		if len(ids) > 0 && ids[len(ids)-1] == "after" {
			break
		}
	}
}

// The session's sizes are asked once per object version.
func TestSizerRemembersByVersion(t *testing.T) {
	var sz sizer
	a := task("a", "n1", swarm.TaskStateAssigned, swarm.TaskStateRunning)
	a.Version.Index = 3
	first := sz.task(a)
	sz.round()
	b := padded(t, a, first+100)
	if got := sz.task(b); got != first {
		t.Errorf("the same version got %d bytes, want the %d remembered", got, first)
	}
	b.Version.Index = 4
	if got := sz.task(b); got != first+100 {
		t.Errorf("a new version got %d bytes, want %d", got, first+100)
	}
	sz.round()
	sz.round()
	a.Version.Index = 4
	if got := sz.task(a); got != first {
		t.Errorf("after two rounds without it got %d bytes, want it encoded again (%d)", got, first)
	}
}
