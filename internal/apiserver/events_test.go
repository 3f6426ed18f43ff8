package apiserver

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/shoal-project/shoal/internal/events"
)

func newBus(t testing.TB) *events.Bus {
	t.Helper()
	b, err := events.New(events.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestEventsRefusesBadInput(t *testing.T) {
	c := newClient(t, serve(t, Config{Events: newBus(t)}))
	tests := []struct {
		path, msg string
	}{
		{"/events?since=yesterday", "invalid value for 'since'"},
		{"/events?until=1.x", "invalid value for 'until'"},
		{"/events?since=200&until=100", "`since` time (200) cannot be after `until` time (100)"},
		{`/events?filters={"colour":["red"]}`, "invalid filter 'colour'"},
		{`/events?filters={"type":["task"]}`, "invalid filter 'type=task'"},
		{`/events?filters=nope`, "invalid filter"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			wantError(t, c.do(http.MethodGet, tt.path, nil), http.StatusBadRequest, tt.msg)
		})
	}
}

// TestEventsReplay: since/until replay the history, filtered, in the
// shape of the client's version, and a stream with until in the past
// ends.
func TestEventsReplay(t *testing.T) {
	b := newBus(t)
	start := time.Now()
	b.Log(eventtypes.ActionStart, eventtypes.ContainerEventType, eventtypes.Actor{ID: "c1", Attributes: map[string]string{"image": "busybox", "name": "web.1"}})
	b.Log(eventtypes.ActionPull, eventtypes.ImageEventType, eventtypes.Actor{ID: "busybox", Attributes: map[string]string{"name": "busybox"}})
	b.Log(eventtypes.ActionCreate, eventtypes.VolumeEventType, eventtypes.Actor{ID: "data"})
	c := newClient(t, serve(t, Config{Events: b}))
	until := strconv.FormatInt(time.Now().Unix()+0, 10) + "." + strconv.Itoa(999999999)
	since := strconv.FormatInt(start.Unix()-1, 10)

	r := c.do(http.MethodGet, "/events?since="+since+"&until="+until, nil)
	if r.code != 200 || r.header.Get("Content-Type") != "application/jsonl" {
		t.Fatalf("got %d %s %q, want 200 application/jsonl", r.code, r.header.Get("Content-Type"), r.body)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(r.body)), "\n") {
		var m eventtypes.Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, string(m.Type)+" "+string(m.Action)+" "+m.Actor.ID)
	}
	if d := cmp.Diff([]string{"container start c1", "image pull busybox", "volume create data"}, got); d != "" {
		t.Errorf("replay (-want +got):\n%s", d)
	}

	r = c.do(http.MethodGet, `/events?since=`+since+`&until=`+until+`&filters={"type":["container"]}`, nil)
	if n := strings.Count(string(r.body), "\n"); n != 1 {
		t.Errorf("filtered replay has %d events, want 1: %s", n, r.body)
	}

	// API 1.50: application/json, and the fields old clients read.
	r = c.do(http.MethodGet, `/v1.50/events?since=`+since+`&until=`+until+`&filters={"type":["container"]}`, nil)
	var legacy map[string]any
	if err := json.Unmarshal(r.body, &legacy); err != nil {
		t.Fatal(err)
	}
	if r.header.Get("Content-Type") != "application/json" || legacy["status"] != "start" || legacy["id"] != "c1" || legacy["from"] != "busybox" {
		t.Errorf("API 1.50 event %s (%s): want status, id and from besides the current fields", r.body, r.header.Get("Content-Type"))
	}
}

// TestEventsLive: live events reach a reader at once, in the framing it
// asked for; a browser's EventSource resumes after the last event it saw.
func TestEventsLive(t *testing.T) {
	b := newBus(t)
	sock := serve(t, Config{Events: b})
	c := newClient(t, sock)

	open := func(accept, lastID string) (*bufio.Reader, func()) {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.moby.localhost/events", nil)
		req.Header.Set("Accept", accept)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Content-Type"); got != strings.Split(accept, ",")[0] {
			t.Errorf("Content-Type %q, want %q", got, accept)
		}
		return bufio.NewReader(resp.Body), func() { cancel(); resp.Body.Close() }
	}

	seq, closeSeq := open(mediaJSONSeq, "")
	defer closeSeq()
	sse, closeSSE := open(mediaEventStream, "")
	waitSubscribers(t, b, 2)
	b.Log(eventtypes.ActionDie, eventtypes.ContainerEventType, eventtypes.Actor{ID: "c1", Attributes: map[string]string{"exitCode": "3"}})

	line, err := seq.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "\x1e{") || !strings.Contains(line, `"exitCode":"3"`) {
		t.Errorf("json-seq record %q (%v): want RS then the event", line, err)
	}
	id, _ := sse.ReadString('\n')
	data, _ := sse.ReadString('\n')
	blank, _ := sse.ReadString('\n')
	if !strings.HasPrefix(id, "id: ") || !strings.HasPrefix(data, "data: {") || blank != "\n" {
		t.Fatalf("server-sent event %q %q %q: want id, data and a blank line", id, data, blank)
	}
	closeSSE()

	// A browser that reconnects sends the last id it saw: it gets what
	// came after, not that one again.
	b.Log(eventtypes.ActionDestroy, eventtypes.ContainerEventType, eventtypes.Actor{ID: "c1"})
	again, closeAgain := open(mediaEventStream, strings.TrimSpace(strings.TrimPrefix(id, "id: ")))
	defer closeAgain()
	again.ReadString('\n')
	data, _ = again.ReadString('\n')
	if !strings.Contains(data, `"Action":"destroy"`) {
		t.Errorf("after reconnecting got %q, want the destroy that followed the last event seen", data)
	}
}

func waitSubscribers(t *testing.T, b *events.Bus, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.Subscribers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", b.Subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
