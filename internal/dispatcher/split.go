package dispatcher

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// A session message never weighs more than the agent takes in one
// (rpc.MaxMessageSize, set on both ends of every cluster connection):
//
//   - an assignment set too large for one message goes as several
//     (AssignmentSet.More on every part but the last), which the agent
//     takes in together once the last has arrived;
//   - an object too large for any message, however it got into the store,
//     is left out, and the tasks that need it (the task itself, or one
//     using the secret or config) are rejected with an error saying so,
//     so that the node's session, and its other tasks, go on;
//   - the node's own object goes whole while it is within MaxObjectSize,
//     else as what the agent acts on (agentNode).
//
// Sizes are the objects' JSON encodings, which is what the codec sends;
// a part is packed to an upper bound of its encoding (partSlack covers
// the brackets and field names around the lists), and checked once
// encoded before it is sent.

// partSlack bounds what a part's encoding adds to its envelope and its
// objects' encodings: the lists' brackets and names, and More.
const partSlack = 64

// leftOut is a task of the node's assignments that cannot be sent, and
// why.
type leftOut struct {
	task *store.Task
	why  string
}

// sizer remembers objects' encoded sizes by kind, ID and version for one
// session, so that a wake-up encodes only what is new or changed. What a
// round did not ask for is forgotten at the end of the next.
type sizer struct {
	prev, cur map[string]sizeAt
}

type sizeAt struct {
	index uint64
	n     int
}

// size returns the encoded size of v, stored as key at version index.
// An object that cannot be encoded is as large as can be: it is never
// sent.
func (s *sizer) size(key string, index uint64, v any) int {
	if s.cur == nil {
		s.cur = map[string]sizeAt{}
	}
	if e, ok := s.cur[key]; ok && e.index == index {
		return e.n
	}
	if e, ok := s.prev[key]; ok && e.index == index {
		s.cur[key] = e
		return e.n
	}
	n, err := limits.EncodedSize(v)
	if err != nil {
		n = math.MaxInt / 2
	}
	s.cur[key] = sizeAt{index: index, n: n}
	return n
}

// round ends a round of asking.
func (s *sizer) round() {
	s.prev, s.cur = s.cur, nil
}

func (s *sizer) task(t *store.Task) int     { return s.size("t"+t.ID, t.Version.Index, t) }
func (s *sizer) secret(o *store.Secret) int { return s.size("s"+o.ID, o.Version.Index, o) }
func (s *sizer) config(o *store.Config) int { return s.size("c"+o.ID, o.Version.Index, o) }

// agentNode returns the node object as its agent is sent it: whole while
// it is within MaxObjectSize, else only what the agent acts on (its ID,
// version, role and availability, status), which is small whatever was
// written into its labels or description.
func agentNode(n *store.Node, sz *sizer) *store.Node {
	if sz.size("n"+n.ID, n.Version.Index, n) <= limits.MaxObjectSize {
		return n
	}
	return &store.Node{Node: swarm.Node{
		ID:   n.ID,
		Meta: n.Meta,
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Name: n.Spec.Name},
			Role:         n.Spec.Role,
			Availability: n.Spec.Availability,
		},
		Status:        n.Status,
		ManagerStatus: n.ManagerStatus,
	}}
}

// fit returns what of cur can be sent in messages whose assignments have
// room bytes each, and the tasks left out: those too large themselves,
// and those meant to run that use a secret or config too large (left out
// too).
func fit(cur *nodeView, room int, sz *sizer) (*nodeView, []leftOut) {
	tooLarge := func(n int) string {
		return fmt.Sprintf("is %d bytes encoded, more than the %d a message to a node may carry", n, room)
	}
	out := *cur
	big := map[string]string{} // secret and config IDs → why
	out.secrets = nil
	for _, s := range cur.secrets {
		if n := sz.secret(s); n > room {
			big[s.ID] = "secret " + s.ID + " " + tooLarge(n)
			continue
		}
		out.secrets = append(out.secrets, s)
	}
	out.configs = nil
	for _, c := range cur.configs {
		if n := sz.config(c); n > room {
			big[c.ID] = "config " + c.ID + " " + tooLarge(n)
			continue
		}
		out.configs = append(out.configs, c)
	}
	var left []leftOut
	out.tasks = nil
	for _, t := range cur.tasks {
		if n := sz.task(t); n > room {
			left = append(left, leftOut{task: t, why: "task " + tooLarge(n)})
			continue
		}
		if why, ok := needsAny(t, big); ok {
			left = append(left, leftOut{task: t, why: why})
			continue
		}
		out.tasks = append(out.tasks, t)
	}
	if len(left) == 0 && len(big) == 0 {
		return cur, nil
	}
	return &out, left
}

// needsAny reports whether t, meant to run, uses a secret or config of
// big, and says why it cannot run then.
func needsAny(t *store.Task, big map[string]string) (string, bool) {
	cs := t.Spec.ContainerSpec
	if len(big) == 0 || cs == nil || taskstate.Terminal(t.Status.State) {
		return "", false
	}
	for _, r := range cs.Secrets {
		if r == nil {
			continue
		}
		if why, ok := big[r.SecretID]; ok {
			return why, true
		}
	}
	for _, r := range cs.Configs {
		if r == nil {
			continue
		}
		if why, ok := big[r.ConfigID]; ok {
			return why, true
		}
	}
	return "", false
}

// split cuts set into parts whose objects take at most room bytes each
// (an object larger than room, which fit leaves out, goes alone). Every
// part carries Full; all but the last carry More.
func split(set AssignmentSet, room int, sz *sizer) []AssignmentSet {
	parts := []AssignmentSet{{Full: set.Full}}
	used := 0
	add := func(n int, put func(p *AssignmentSet)) {
		last := &parts[len(parts)-1]
		if used > 0 && used+n+1 > room {
			parts = append(parts, AssignmentSet{Full: set.Full})
			last, used = &parts[len(parts)-1], 0
		}
		put(last)
		used += n + 1
	}
	for _, t := range set.Tasks {
		add(sz.task(t), func(p *AssignmentSet) { p.Tasks = append(p.Tasks, t) })
	}
	for _, s := range set.Secrets {
		add(sz.secret(s), func(p *AssignmentSet) { p.Secrets = append(p.Secrets, s) })
	}
	for _, c := range set.Configs {
		add(sz.config(c), func(p *AssignmentSet) { p.Configs = append(p.Configs, c) })
	}
	for i := range parts[:len(parts)-1] {
		parts[i].More = true
	}
	return parts
}

// envelope returns the session message around the assignments for a
// node's view, and the room its assignments have in a message of at most
// limit bytes. A message that would be more than half envelope leaves the
// trusted roots out: the agent keeps those it has.
func envelope(sessionID string, cur *nodeView, limit int) (SessionMessage, int, error) {
	base := SessionMessage{
		SessionID:       sessionID,
		Node:            cur.node,
		Managers:        cur.wide.managers,
		HeartbeatPeriod: cur.wide.period,
		RootCA:          cur.wide.rootCA,
	}
	n, err := encodedEnvelope(base)
	if err != nil {
		return base, 0, err
	}
	if n > limit/2 {
		base.RootCA = swarm.TLSInfo{}
		if n, err = encodedEnvelope(base); err != nil {
			return base, 0, err
		}
	}
	return base, limit - n - partSlack, nil
}

// encodedEnvelope is the size of base with an empty set that says Full
// and More.
func encodedEnvelope(base SessionMessage) (int, error) {
	base.Assignments = AssignmentSet{Full: true, More: true}
	b, err := json.Marshal(&base)
	return len(b), err
}
