package events

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/events"

	"github.com/shoal-project/shoal/internal/filters"
)

func at(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func msg(typ events.Type, action events.Action, id string, sec int64, attrs map[string]string) events.Message {
	scope := "local"
	switch typ {
	case events.ServiceEventType, events.NodeEventType, events.SecretEventType, events.ConfigEventType:
		scope = "swarm"
	}
	return events.Message{Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs}, Scope: scope, Time: sec, TimeNano: sec * 1e9}
}

// TestMessageShape checks the JSON of an event against the swagger's
// EventMessage: Type, Action, Actor{ID, Attributes}, scope, time, timeNano.
func TestMessageShape(t *testing.T) {
	m := msg(events.ServiceEventType, events.ActionUpdate, "svc1", 1700000000, map[string]string{"name": "web", "replicas.old": "1", "replicas.new": "3"})
	got, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(got, &fields); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"Type":   "service",
		"Action": "update",
		"Actor": map[string]any{"ID": "svc1", "Attributes": map[string]any{
			"name": "web", "replicas.old": "1", "replicas.new": "3",
		}},
		"scope":    "swarm",
		"time":     float64(1700000000),
		"timeNano": float64(1700000000 * 1e9),
	}
	if d := cmp.Diff(want, fields); d != "" {
		t.Errorf("event JSON differs from the swagger's EventMessage (-want +got):\n%s", d)
	}
}

func mustFilter(t *testing.T, pairs ...[2]string) Filter {
	t.Helper()
	f, err := NewFilter(filters.New(pairs...))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFilter(t *testing.T) {
	container := msg(events.ContainerEventType, events.ActionStart, "c0ffee1234", 10,
		map[string]string{"name": "web.1.abc", "image": "busybox:1.36", "com.docker.swarm.service.name": "web"})
	health := msg(events.ContainerEventType, "health_status: healthy", "c0ffee1234", 10, map[string]string{"name": "web.1.abc"})
	execStart := msg(events.ContainerEventType, "exec_start: sh -c date", "c0ffee1234", 10, map[string]string{"name": "web.1.abc"})
	service := msg(events.ServiceEventType, events.ActionCreate, "svc123", 10, map[string]string{"name": "web"})
	node := msg(events.NodeEventType, events.ActionUpdate, "node42", 10, map[string]string{"name": "host-a", "state.old": "down", "state.new": "ready"})
	img := msg(events.ImageEventType, events.ActionTag, "sha256:aaaa", 10, map[string]string{"name": "registry.local/app:v2"})
	volume := msg(events.VolumeEventType, events.ActionCreate, "data", 10, map[string]string{"driver": "local"})
	network := msg(events.NetworkEventType, events.ActionConnect, "net999", 10, map[string]string{"name": "bridge", "container": "c0ffee1234"})
	secret := msg(events.SecretEventType, events.ActionRemove, "sec1", 10, map[string]string{"name": "db-pass"})
	config := msg(events.ConfigEventType, events.ActionCreate, "cfg1", 10, map[string]string{"name": "nginx.conf"})

	all := []events.Message{container, health, execStart, service, node, img, volume, network, secret, config}
	tests := []struct {
		name  string
		pairs [][2]string
		want  []events.Message
	}{
		{"none", nil, all},
		{"type", [][2]string{{"type", "service"}, {"type", "node"}}, []events.Message{service, node}},
		{"scope swarm", [][2]string{{"scope", "swarm"}}, []events.Message{service, node, secret, config}},
		{"scope local", [][2]string{{"scope", "local"}}, []events.Message{container, health, execStart, img, volume, network}},
		{"event exact", [][2]string{{"event", "create"}}, []events.Message{service, volume, config}},
		{"event health_status by prefix", [][2]string{{"event", "health_status"}}, []events.Message{health}},
		{"event exec_start by prefix", [][2]string{{"event", "exec_start"}}, []events.Message{execStart}},
		{"container by name prefix", [][2]string{{"container", "web.1"}}, []events.Message{container, health, execStart}},
		{"container by ID prefix", [][2]string{{"container", "c0ffee"}}, []events.Message{container, health, execStart}},
		// By prefix on every event's name, as dockerd: the service's task
		// containers (web.1.…) come with it.
		{"service by name", [][2]string{{"service", "web"}}, []events.Message{container, health, execStart, service}},
		{"service by ID", [][2]string{{"service", "svc1"}}, []events.Message{service}},
		{"node", [][2]string{{"node", "host-a"}}, []events.Message{node}},
		{"secret", [][2]string{{"secret", "db-pass"}}, []events.Message{secret}},
		{"config", [][2]string{{"config", "cfg1"}}, []events.Message{config}},
		{"volume", [][2]string{{"volume", "data"}}, []events.Message{volume}},
		{"network", [][2]string{{"network", "bridge"}}, []events.Message{network}},
		{"image of a container, without its tag", [][2]string{{"image", "busybox"}}, []events.Message{container}},
		{"image of a container, with its tag", [][2]string{{"image", "busybox:1.36"}}, []events.Message{container}},
		{"image event by name", [][2]string{{"image", "registry.local/app"}}, []events.Message{img}},
		{"image event by ID", [][2]string{{"image", "sha256:aaaa"}}, []events.Message{img}},
		{"label key", [][2]string{{"label", "com.docker.swarm.service.name"}}, []events.Message{container}},
		{"label key=value", [][2]string{{"label", "com.docker.swarm.service.name=web"}}, []events.Message{container}},
		{"label other value", [][2]string{{"label", "com.docker.swarm.service.name=db"}}, nil},
		{"filters are and-ed", [][2]string{{"type", "container"}, {"event", "start"}}, []events.Message{container}},
		{"values are or-ed", [][2]string{{"event", "start"}, {"event", "remove"}}, []events.Message{container, secret}},
		{"a name filter keeps only what it names", [][2]string{{"service", "svc1"}, {"type", "container"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFilter(t, tt.pairs...)
			var got []events.Message
			for _, m := range all {
				if f.Include(m) {
					got = append(got, m)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("filter %v (-want +got):\n%s", tt.pairs, d)
			}
		})
	}
}

func TestNewFilterRefuses(t *testing.T) {
	tests := []struct {
		pairs [][2]string
		want  string
	}{
		{[][2]string{{"colour", "red"}}, "invalid filter 'colour'"},
		{[][2]string{{"type", "task"}}, "invalid filter 'type=task'"},
		{[][2]string{{"scope", "global"}}, "invalid filter 'scope=global'"},
	}
	for _, tt := range tests {
		_, err := NewFilter(filters.New(tt.pairs...))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewFilter(%v) = %v, want an error containing %q", tt.pairs, err, tt.want)
		}
	}
}

func newBus(t *testing.T, cfg Config) *Bus {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestSubscribeReplaysSinceUntil(t *testing.T) {
	b := newBus(t, Config{})
	for i := int64(1); i <= 5; i++ {
		b.publish(record{Message: msg(events.ContainerEventType, events.ActionStart, fmt.Sprint("c", i), 100*i, nil)})
	}
	ids := func(ms []events.Message) (out []string) {
		for _, m := range ms {
			out = append(out, m.Actor.ID)
		}
		return out
	}
	tests := []struct {
		name         string
		since, until time.Time
		f            Filter
		want         []string
	}{
		{"neither: no replay, as dockerd", time.Time{}, time.Time{}, Filter{}, nil},
		{"since", at(300), time.Time{}, Filter{}, []string{"c3", "c4", "c5"}},
		{"until", time.Time{}, at(200), Filter{}, []string{"c1", "c2"}},
		{"both", at(200), at(400), Filter{}, []string{"c2", "c3", "c4"}},
		{"filtered", at(100), time.Time{}, mustFilter(t, [2]string{"container", "c4"}), []string{"c4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			past, sub := b.Subscribe(tt.since, tt.until, tt.f)
			defer sub.Close()
			if d := cmp.Diff(tt.want, ids(past)); d != "" {
				t.Errorf("replay (-want +got):\n%s", d)
			}
		})
	}
}

// TestSlowReaderDropped: a reader that does not read is dropped once its
// buffer is full, and publishing never waits for it.
func TestSlowReaderDropped(t *testing.T) {
	// Not closed at the end: a bus that blocks would hang its Close.
	b, err := New(Config{Buffer: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, slow := b.Subscribe(time.Time{}, time.Time{}, Filter{})
	b.Subscribe(time.Time{}, time.Time{}, mustFilter(t, [2]string{"type", "image"}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 {
			b.Log(events.ActionStart, events.ContainerEventType, events.Actor{ID: fmt.Sprint(i)})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishing blocked on a reader that does not read")
	}
	var got int
	for range slow.C() {
		got++
	}
	if got != 2 || slow.Err() != ErrSlowReader {
		t.Errorf("slow reader got %d events then %v, want its 2 buffered then ErrSlowReader", got, slow.Err())
	}
	if b.Subscribers() != 1 {
		t.Errorf("subscribers = %d, want 1: the filtered one saw nothing and stays", b.Subscribers())
	}
}

func TestHistoryBoundedAndPersisted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	cfg := Config{Path: path, MaxEvents: 5, MaxBytes: 1 << 20}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 30; i++ {
		b.publish(record{Message: msg(events.ContainerEventType, events.ActionDie, fmt.Sprint("c", i), i, nil)})
	}
	b.publishSwarm("cluster1", 77, []events.Message{msg(events.ServiceEventType, events.ActionCreate, "svc", 31, nil)})
	for i := int64(32); i <= 40; i++ {
		b.publish(record{Message: msg(events.ContainerEventType, events.ActionDie, fmt.Sprint("c", i), i, nil)})
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Rewritten at twice the bounds: at most 10 events and the mark.
	if lines := strings.Count(readFile(t, path), "\n"); lines > 11 {
		t.Errorf("history file has %d lines (%d bytes), want at most 11 for a bound of 5 events", lines, st.Size())
	}

	b = newBus(t, cfg)
	past, sub := b.Subscribe(at(1), time.Time{}, Filter{})
	sub.Close()
	var ids []string
	for _, m := range past {
		ids = append(ids, m.Actor.ID)
	}
	if d := cmp.Diff([]string{"c36", "c37", "c38", "c39", "c40"}, ids); d != "" {
		t.Errorf("history after a restart (-want +got):\n%s", d)
	}
	// The swarm event was trimmed away, its raft index was not.
	if b.hist.newer("cluster1", 77) || !b.hist.newer("cluster1", 78) || !b.hist.newer("cluster2", 1) {
		t.Errorf("watermark after a restart = %+v, want cluster1 at 77", b.hist.mark)
	}
}

func TestHistoryBoundedByBytes(t *testing.T) {
	b := newBus(t, Config{MaxEvents: 1000, MaxBytes: 1000})
	for i := range 100 {
		b.Log(events.ActionStart, events.ContainerEventType, events.Actor{ID: fmt.Sprint(i), Attributes: map[string]string{"pad": strings.Repeat("x", 50)}})
	}
	if b.hist.bytes > 1000 || len(b.hist.recs)-b.hist.head == 0 {
		t.Errorf("history holds %d events in %d bytes, want some within 1000 bytes", len(b.hist.recs)-b.hist.head, b.hist.bytes)
	}
}

func TestHistoryUnreadableLinesSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	good, _ := json.Marshal(record{Message: msg(events.ImageEventType, events.ActionPull, "busybox", 5, nil)})
	if err := os.WriteFile(path, []byte("{not json\n"+string(good)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newBus(t, Config{Path: path})
	past, sub := b.Subscribe(at(1), time.Time{}, Filter{})
	sub.Close()
	if len(past) != 1 || past[0].Actor.ID != "busybox" {
		t.Errorf("history = %+v, want the one good line", past)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDisconnectEndsStreamsNotHistory(t *testing.T) {
	b := newBus(t, Config{})
	_, sub := b.Subscribe(time.Time{}, time.Time{}, Filter{})
	b.Disconnect()
	if _, ok := <-sub.C(); ok || sub.Err() != nil {
		t.Errorf("after Disconnect the subscription is open or failed (%v): want it ended", sub.Err())
	}
	b.Log(events.ActionStart, events.ContainerEventType, events.Actor{ID: "late"})
	past, s2 := b.Subscribe(at(1), time.Time{}, Filter{})
	s2.Close()
	if len(past) != 1 || past[0].Actor.ID != "late" {
		t.Errorf("history after Disconnect = %+v, want the event published after it", past)
	}
}
