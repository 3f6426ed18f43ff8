package apiserver

import (
	"net/http"
	"sync"

	"github.com/shoal-project/shoal/internal/controlapi"
)

// Bounds of what an answerCache keeps: distinct requests, and bytes.
const (
	maxAnswers      = 64
	maxAnswersBytes = 8 << 20
)

// answerCache keeps encoded answers of the cluster reads polled most
// (service ls and inspect, task ls) for one state of the store, by path
// and query: under load most reads find the state unchanged since the
// last, and encoding the objects was most of their cost
// (docs/BENCHMARKS.md). An answer is given again only while
// the store's index is the one it was computed at, from the same control
// API (a swarm left and joined again starts another store, whose indexes
// start over). The index is read before the answer is computed, and the
// store makes a batch visible before it moves its index past it, so an
// answer is never older than its index says — and never given once a
// later batch is in.
type answerCache struct {
	mu     sync.Mutex
	owner  any    // the control API the answers came from
	index  uint64 // the store's index when they were computed
	bodies map[string][]byte
	size   int // bytes in bodies
}

// get returns the answer to query kept for owner at index.
func (c *answerCache) get(owner any, index uint64, query string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != owner || c.index != index {
		return nil, false
	}
	b, ok := c.bodies[query]
	return b, ok
}

// put keeps body as the answer to query for owner at index, forgetting
// the answers of other states; an answer of an older state than the kept
// ones is dropped.
func (c *answerCache) put(owner any, index uint64, query string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.owner != owner || index > c.index:
		c.owner, c.index, c.bodies, c.size = owner, index, map[string][]byte{}, 0
	case index < c.index:
		return
	}
	if _, ok := c.bodies[query]; ok || len(c.bodies) >= maxAnswers || c.size+len(body) > maxAnswersBytes {
		return
	}
	c.bodies[query] = body
	c.size += len(body)
}

// cachedRead answers the cluster read r from s.answers, or with what read
// returns, which it keeps. read must be a function of the store's state
// and the request alone.
func (s *Server) cachedRead(w http.ResponseWriter, r *http.Request, c *controlapi.API, read func() (any, error)) error {
	key := r.URL.Path + "?" + r.URL.RawQuery
	// Before the read (answerCache).
	index := c.Index()
	if body, ok := s.answers.get(c, index, key); ok {
		return writeEncoded(w, body)
	}
	v, err := read()
	if err != nil {
		return err
	}
	body, err := encodeJSON(v)
	if err != nil {
		return err
	}
	s.answers.put(c, index, key, body)
	return writeEncoded(w, body)
}
