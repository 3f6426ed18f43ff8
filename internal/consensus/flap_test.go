package consensus_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

// flapGroup is a three-member raft group over in-memory transports whose
// links the test cuts and mends, with what each member's RunWhileLeader
// runs recorded: the term in which the running work started.
type flapGroup struct {
	t     *testing.T
	ids   []string
	trans map[string]*raft.InmemTransport
	nodes map[string]*consensus.Node
	store map[string]*store.Store

	mu      sync.Mutex
	running map[string]uint64 // member → term its leader's work started in
	starts  int
}

func newFlapGroup(t *testing.T) *flapGroup {
	g := &flapGroup{t: t, ids: []string{"m1", "m2", "m3"}, trans: map[string]*raft.InmemTransport{},
		nodes: map[string]*consensus.Node{}, store: map[string]*store.Store{}, running: map[string]uint64{}}
	for _, id := range g.ids {
		_, g.trans[id] = raft.NewInmemTransport(raft.ServerAddress(id))
	}
	for _, id := range g.ids {
		g.heal(id)
	}
	for _, id := range g.ids {
		g.store[id] = store.New()
		n, err := consensus.Open(consensus.Config{Dir: t.TempDir(), LocalID: id, Transport: g.trans[id],
			HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond}, g.store[id])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Shutdown() })
		g.nodes[id] = n
	}
	if err := g.nodes["m1"].Bootstrap(); err != nil {
		t.Fatal(err)
	}
	waitLeading(t, g.nodes["m1"])
	for _, id := range g.ids[1:] {
		if err := g.nodes["m1"].Raft().AddVoter(raft.ServerID(id), raft.ServerAddress(id), 0, 5*time.Second).Error(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, id := range g.ids {
		n := g.nodes[id]
		wg.Go(func() {
			n.RunWhileLeader(ctx, func(lctx context.Context) {
				term := n.Raft().CurrentTerm()
				g.mu.Lock()
				if other, ok := g.running[id]; ok {
					g.t.Errorf("%s: work of term %d starts while that of term %d runs", id, term, other)
				}
				g.running[id] = term
				g.starts++
				g.mu.Unlock()
				<-lctx.Done()
				g.mu.Lock()
				delete(g.running, id)
				g.mu.Unlock()
			})
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return g
}

// isolate cuts every link of member id, both ways.
func (g *flapGroup) isolate(id string) {
	g.trans[id].DisconnectAll()
	for _, o := range g.ids {
		if o != id {
			g.trans[o].Disconnect(raft.ServerAddress(id))
		}
	}
}

// heal mends every link of member id, both ways.
func (g *flapGroup) heal(id string) {
	for _, o := range g.ids {
		if o != id {
			g.trans[id].Connect(raft.ServerAddress(o), g.trans[o])
			g.trans[o].Connect(raft.ServerAddress(id), g.trans[id])
		}
	}
}

// leader returns the one member that leads, "" when none or more than one
// believe they do.
func (g *flapGroup) leader() string {
	var leaders []string
	for _, id := range g.ids {
		if g.nodes[id].IsLeader() {
			leaders = append(leaders, id)
		}
	}
	if len(leaders) != 1 {
		return ""
	}
	return leaders[0]
}

// settled waits until one member leads in the same term for a while, and
// returns it with its term.
func (g *flapGroup) settled() (string, uint64) {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	var lastTerm uint64
	var since time.Time
	for time.Now().Before(deadline) {
		id := g.leader()
		var term uint64
		if id != "" {
			term = g.nodes[id].Raft().CurrentTerm()
		}
		if id == "" || id != last || term != lastTerm {
			last, lastTerm, since = id, term, time.Now()
		} else if time.Since(since) > 200*time.Millisecond {
			return id, term
		}
		time.Sleep(5 * time.Millisecond)
	}
	g.t.Fatalf("no stable leader after 10 s (last %q)", last)
	return "", 0
}

// TestRunWhileLeaderFollowsFlaps flaps leadership in a three-member group
// with 50 ms timeouts — transfers, the leader cut off for less and more
// than an election takes, twice in a row — and after each settle checks
// that the leader, and only it, runs the leader's work, started in its
// current term (after that term's barrier), and that the leader commits a
// write. This is the candidate of RELIABILITY.md's finding 5: a leader
// whose controllers do not run.
func TestRunWhileLeaderFollowsFlaps(t *testing.T) {
	g := newFlapGroup(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		leader, _ := g.settled()
		var what string
		switch rng.IntN(4) {
		case 0:
			what = "transfer"
			// A transfer can time out on a loaded machine: that is a flap too.
			g.nodes[leader].Raft().LeadershipTransfer().Error()
		case 1:
			cut := time.Duration(rng.IntN(200)) * time.Millisecond
			what = fmt.Sprintf("leader cut off for %s", cut)
			g.isolate(leader)
			time.Sleep(cut)
			g.heal(leader)
		case 2:
			what = "leader cut off twice for 60-120 ms"
			for range 2 {
				g.isolate(leader)
				time.Sleep(time.Duration(60+rng.IntN(60)) * time.Millisecond)
				g.heal(leader)
				time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond)
			}
		case 3:
			follower := g.ids[rng.IntN(len(g.ids))]
			what = fmt.Sprintf("%s cut off for 150 ms", follower)
			g.isolate(follower)
			time.Sleep(150 * time.Millisecond)
			g.heal(follower)
		}
		leader, term := g.settled()
		want := fmt.Sprint(map[string]uint64{leader: term})
		deadline := time.Now().Add(5 * time.Second)
		for {
			g.mu.Lock()
			got := fmt.Sprint(g.running)
			g.mu.Unlock()
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d (%s): 5 s after settling on %s in term %d, the leader's work runs on %s (member: term it started in), want %s",
					round, what, leader, term, got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
		err := g.store[leader].Update(t.Context(), func(tx *store.WriteTx) error {
			return tx.Put(&store.Service{Service: swarm.Service{ID: "s", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: fmt.Sprint("round-", round)}}}})
		})
		if err != nil && g.leader() == leader {
			t.Fatalf("round %d (%s): the settled leader %s does not commit: %v", round, what, leader, err)
		}
	}
	g.mu.Lock()
	t.Logf("%d rounds, the leader's work started %d times", rounds, g.starts)
	g.mu.Unlock()
}
