package apiserver

import (
	"sync"
)

// maxAnswers bounds the distinct queries an answerCache keeps.
const maxAnswers = 16

// answerCache keeps encoded answers of one cluster read (GET /services)
// for one state of the store, by query: under load most lists find the
// state unchanged since the last, and encoding the services was most of
// their cost (docs/BENCHMARKS.md). An answer is given again only while
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
		c.owner, c.index, c.bodies = owner, index, map[string][]byte{}
	case index < c.index:
		return
	}
	if len(c.bodies) >= maxAnswers {
		return
	}
	c.bodies[query] = body
}
