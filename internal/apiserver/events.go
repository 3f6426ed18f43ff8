package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/events"
)

// Events is the daemon's event stream (events.Bus).
type Events interface {
	// Subscribe returns the past events from since to until that pass f
	// and a live subscription, taken at once.
	Subscribe(since, until time.Time, f events.Filter) ([]eventtypes.Message, *events.Subscription)
}

// Media types of GET /events: JSON lines (dockerd's since API 1.52, and
// what older ones sent as application/json), RFC 7464 JSON text
// sequences, and server-sent events for browsers (EventSource), whose
// ids are the events' times so that a reconnecting browser resumes where
// it was (Last-Event-ID).
const (
	mediaJSONLines   = "application/jsonl"
	mediaNDJSON      = "application/x-ndjson"
	mediaJSONSeq     = "application/json-seq"
	mediaEventStream = "text/event-stream"
)

// events answers GET /events: the history between since and until, then,
// unless until is past, the live events until until or the client goes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Events == nil {
		return errNoBackend("events")
	}
	q := r.URL.Query()
	since, err := optionalTimestamp(q.Get("since"))
	if err != nil {
		return errdefs.Invalid("invalid value for 'since': %v", err)
	}
	until, err := optionalTimestamp(q.Get("until"))
	if err != nil {
		return errdefs.Invalid("invalid value for 'until': %v", err)
	}
	if !until.IsZero() && until.Before(since) {
		return errdefs.Invalid("`since` time (%s) cannot be after `until` time (%s)", q.Get("since"), q.Get("until"))
	}
	args, err := queryFilters(r)
	if err != nil {
		return err
	}
	f, err := events.NewFilter(args)
	if err != nil {
		return err
	}
	media := eventsMedia(r)
	if media == mediaEventStream && since.IsZero() {
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				return errdefs.Invalid("invalid Last-Event-ID %q: want the nanosecond time of an event", id)
			}
			since = time.Unix(0, n+1)
		}
	}

	past, sub := s.cfg.Events.Subscribe(since, until, f)
	defer sub.Close()
	var timeout <-chan time.Time
	onlyPast := false
	if !until.IsZero() {
		if d := time.Until(until); d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		} else {
			onlyPast = true
		}
	}

	w.Header().Set("Content-Type", media)
	if media == mediaEventStream {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	enc := eventEncoder(w, media, compareVersions(requestVersion(r), "1.52") < 0)
	for _, m := range past {
		if err := enc(m); err != nil {
			return nil
		}
	}
	rc.Flush()
	if onlyPast {
		return nil
	}
	for {
		select {
		case m, ok := <-sub.C():
			if !ok {
				if err := sub.Err(); err != nil {
					s.log.Warn("events stream ended", "err", err)
				}
				return nil
			}
			if err := writeQueued(enc, m, sub.C()); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		case <-timeout:
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

// writeQueued writes m and whatever else is queued, so that a burst is
// flushed once.
func writeQueued(enc func(eventtypes.Message) error, m eventtypes.Message, c <-chan eventtypes.Message) error {
	for {
		if err := enc(m); err != nil {
			return err
		}
		var ok bool
		select {
		case m, ok = <-c:
			if !ok {
				return nil
			}
		default:
			return nil
		}
	}
}

// eventsMedia is the media type the client accepts, JSON lines when it
// names none of ours, as dockerd.
func eventsMedia(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch mt = strings.TrimSpace(mt); mt {
		case mediaJSONLines, mediaNDJSON, mediaJSONSeq, mediaEventStream:
			return mt
		}
	}
	if compareVersions(requestVersion(r), "1.52") < 0 {
		return "application/json"
	}
	return mediaJSONLines
}

// eventEncoder writes one event in media's framing; legacy adds the
// fields API versions before 1.52 had (id, status, from).
func eventEncoder(w io.Writer, media string, legacy bool) func(eventtypes.Message) error {
	return func(m eventtypes.Message) error {
		var v any = m
		if legacy {
			v = withLegacyFields(m)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		switch media {
		case mediaJSONSeq:
			_, err = fmt.Fprintf(w, "\x1e%s\n", b)
		case mediaEventStream:
			_, err = fmt.Fprintf(w, "id: %d\ndata: %s\n\n", m.TimeNano, b)
		default:
			_, err = fmt.Fprintf(w, "%s\n", b)
		}
		return err
	}
}

// withLegacyFields adds to container and image events the fields old API
// versions had beside the current ones.
func withLegacyFields(m eventtypes.Message) any {
	if m.Type != eventtypes.ContainerEventType && m.Type != eventtypes.ImageEventType {
		return m
	}
	type legacy struct {
		eventtypes.Message
		Status string `json:"status,omitempty"`
		ID     string `json:"id,omitempty"`
		From   string `json:"from,omitempty"`
	}
	l := legacy{Message: m, Status: string(m.Action), ID: m.Actor.ID}
	if m.Type == eventtypes.ContainerEventType {
		l.From = m.Actor.Attributes["image"]
	}
	return l
}

// optionalTimestamp is parseTimestamp where empty means no time.
func optionalTimestamp(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return parseTimestamp(v)
}
