package apiserver

import (
	"net/http"

	"github.com/shoal-project/shoal/internal/limits"
)

// gates bound the long-lived requests a daemon serves at once, one gate
// per kind (limits.Gate), so that clients opening streams without end
// cannot exhaust its memory while other requests still get answers.
type gates struct {
	events, logs, sessions, stats *limits.Gate
}

func newGates(max int) gates {
	if max == 0 {
		max = limits.MaxStreams
	}
	return gates{
		events:   limits.NewGate("event subscriptions", max),
		logs:     limits.NewGate("log followers", max),
		sessions: limits.NewGate("attach and exec sessions", max),
		stats:    limits.NewGate("stats streams", max),
	}
}

// gate is the gate a request to the route pattern goes through, nil for
// requests that end by themselves.
func (g gates) gate(pattern string, r *http.Request) *limits.Gate {
	switch pattern {
	case "GET /events":
		return g.events
	case "GET /services/{id}/logs", "GET /tasks/{id}/logs", "GET /containers/{id}/logs":
		if boolValue(r, "follow") {
			return g.logs
		}
	case "POST /containers/{id}/attach", "POST /exec/{id}/start":
		return g.sessions
	case "GET /containers/{id}/stats":
		if r.URL.Query().Get("stream") == "" || boolValue(r, "stream") {
			return g.stats
		}
	}
	return nil
}
