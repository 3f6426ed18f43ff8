package raftmembers

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

type manager struct {
	node  clusterconntest.Node
	addr  string
	store *store.Store
	raft  *consensus.Node
}

// startManager runs a manager's cluster port, raft over it and this
// service, the way a Shoal manager does.
func startManager(t *testing.T, root *ca.RootCA) *manager {
	t.Helper()
	node := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, node)
	addr := mux.Addr().String()
	client := clusterconn.ClientTLS(root, &node.Cert, clusterconn.ProtoRaft)
	stream, err := clusterconn.NewRaftStreamLayer(mux, addr, func() *tls.Config { return client })
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransport(stream, 3, 5*time.Second, nil)
	st := store.New()
	rn, err := consensus.Open(consensus.Config{Dir: t.TempDir(), LocalID: node.ID, Transport: trans}, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rn.Shutdown() })
	clusterconntest.ServeGRPC(t, mux, Policy(), func(r grpc.ServiceRegistrar) { r.RegisterService(&serviceDesc, New(rn)) })
	return &manager{node: node, addr: addr, store: st, raft: rn}
}

func TestJoinAddsAVoterThatReplicates(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	first := startManager(t, root)
	if err := first.raft.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for !first.raft.IsLeader() {
		if ctx.Err() != nil {
			t.Fatal("first manager never led")
		}
		time.Sleep(10 * time.Millisecond)
	}
	second := startManager(t, root)
	dial := func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
		conf := clusterconn.ClientTLS(root, &second.node.Cert, clusterconn.ProtoGRPC)
		return clusterconn.DialGRPC(ctx, addr, func() *tls.Config { return conf })
	}
	// The second manager asks itself first: a follower that is no member
	// says it is not the leader, and the leader adds it.
	if err := JoinVia(ctx, []string{second.addr, first.addr}, second.addr, dial); err != nil {
		t.Fatal(err)
	}
	if err := first.store.Update(ctx, func(tx *store.WriteTx) error {
		return tx.Put(&store.Service{Service: swarm.Service{ID: "s1"}})
	}); err != nil {
		t.Fatal(err)
	}
	for {
		var got *store.Service
		second.store.View(func(tx store.ReadTx) { got = store.Get[*store.Service](tx, "s1") })
		if got != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the joined manager never received the leader's write")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWorkerCannotJoinRaft(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	m := startManager(t, root)
	worker := clusterconntest.NewNode(t, root, ca.WorkerRole)
	cc := clusterconntest.Dial(t, root, m.addr, &worker)
	err := cc.Invoke(t.Context(), MethodJoin, &JoinRequest{Addr: "127.0.0.1:1"}, new(JoinResponse))
	if err == nil {
		t.Fatal("a worker certificate joined the raft group")
	}
}
