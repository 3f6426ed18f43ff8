package clusterconn_test

import (
	"crypto/tls"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/caserver"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/rpc/rpctest"
	"github.com/shoal-project/shoal/internal/store"
)

// logFSM records the entries it applies.
type logFSM struct {
	mu      sync.Mutex
	entries []string
}

func (f *logFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, string(l.Data))
	return nil
}

func (f *logFSM) has(entry string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.entries, entry)
}

func (f *logFSM) Snapshot() (raft.FSMSnapshot, error) {
	return nil, errors.New("no snapshots in this test")
}
func (f *logFSM) Restore(io.ReadCloser) error { return errors.New("no snapshots in this test") }

type raftNode struct {
	node clusterconntest.Node
	mux  *clusterconn.Mux
	raft *raft.Raft
	fsm  *logFSM
}

func startRaftNode(t *testing.T, root *ca.RootCA, n clusterconntest.Node, mux *clusterconn.Mux, peers []raft.Server) *raftNode {
	t.Helper()
	conf := clusterconn.ClientTLS(root.Trust(), &n.Cert, clusterconn.ProtoRaft)
	stream, err := clusterconn.NewRaftStreamLayer(mux, "", func() *tls.Config { return conf })
	if err != nil {
		t.Fatalf("NewRaftStreamLayer: %v", err)
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 3, Timeout: 5 * time.Second, Logger: hclog.NewNullLogger(),
	})
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(n.ID)
	cfg.HeartbeatTimeout = 500 * time.Millisecond
	cfg.ElectionTimeout = 500 * time.Millisecond
	cfg.LeaderLeaseTimeout = 250 * time.Millisecond
	cfg.Logger = hclog.NewNullLogger()
	store := raft.NewInmemStore()
	snaps := raft.NewInmemSnapshotStore()
	if err := raft.BootstrapCluster(cfg, store, store, snaps, trans, raft.Configuration{Servers: peers}); err != nil {
		t.Fatalf("BootstrapCluster: %v", err)
	}
	fsm := &logFSM{}
	r, err := raft.NewRaft(cfg, fsm, store, store, snaps, trans)
	if err != nil {
		t.Fatalf("NewRaft: %v", err)
	}
	t.Cleanup(func() {
		r.Shutdown().Error()
		trans.Close()
	})
	return &raftNode{node: n, mux: mux, raft: r, fsm: fsm}
}

// waitFor polls cond until it holds; the bound only keeps a broken build
// from hanging, it asserts nothing about speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two raft nodes over the cluster port elect a leader and replicate, while
// the same ports serve gRPC.
func TestRaftAndGRPCShareThePort(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	var nodes [2]clusterconntest.Node
	var muxes [2]*clusterconn.Mux
	var peers []raft.Server
	for i := range nodes {
		nodes[i] = clusterconntest.NewNode(t, root, ca.ManagerRole)
		muxes[i] = clusterconntest.Listen(t, root, nodes[i])
		clusterconntest.ServeGRPC(t, muxes[i], testPolicy, registerEcho)
		peers = append(peers, raft.Server{
			ID:      raft.ServerID(nodes[i].ID),
			Address: raft.ServerAddress(muxes[i].Addr().String()),
		})
	}
	var rafts []*raftNode
	for i := range nodes {
		rafts = append(rafts, startRaftNode(t, root, nodes[i], muxes[i], peers))
	}

	var leader, follower *raftNode
	waitFor(t, "a leader", func() bool {
		for i, r := range rafts {
			if r.raft.State() == raft.Leader {
				leader, follower = r, rafts[1-i]
				return true
			}
		}
		return false
	})
	if err := leader.raft.Apply([]byte("first entry"), 10*time.Second).Error(); err != nil {
		t.Fatalf("Apply on the leader: %v", err)
	}
	waitFor(t, "the entry on the follower", func() bool { return follower.fsm.has("first entry") })
	if _, id := follower.raft.LeaderWithID(); id != raft.ServerID(leader.node.ID) {
		t.Errorf("follower sees leader %q, want %q", id, leader.node.ID)
	}

	for i, m := range muxes {
		cc := clusterconntest.Dial(t, root, m.Addr().String(), &nodes[1-i])
		if _, err := rpctest.Echo(t.Context(), cc, &swarm.Service{ID: "during raft"}); err != nil {
			t.Errorf("gRPC call to node %d while raft runs: %v", i, err)
		}
	}
}

// Raft bypasses the gRPC policy, so the stream layer itself admits only
// managers, and of those only the ones its peer check admits: a removed
// manager still holds a valid manager certificate.
func TestRaftRefusesPeers(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	removed := clusterconntest.NewNode(t, root, ca.ManagerRole)
	worker := clusterconntest.NewNode(t, root, ca.WorkerRole)
	cluster := &store.Cluster{RemovedNodes: []string{removed.ID}}
	mux := clusterconntest.Listen(t, root, manager)
	stream, err := clusterconn.NewRaftStreamLayer(mux, "", func() *tls.Config {
		return clusterconn.ClientTLS(root.Trust(), &manager.Cert, clusterconn.ProtoRaft)
	})
	if err != nil {
		t.Fatal(err)
	}
	stream.SetPeerCheck(func(id ca.Identity) error {
		if caserver.Removed(cluster, id.NodeID) {
			return errdefs.Forbidden("node %s was removed from the swarm", id.NodeID)
		}
		return nil
	})
	accepted := make(chan string, 4)
	go func() {
		for {
			c, err := stream.Accept()
			if err != nil {
				close(accepted)
				return
			}
			name := "(no certificate)"
			if certs := c.(*tls.Conn).ConnectionState().PeerCertificates; len(certs) > 0 {
				name = certs[0].Subject.CommonName
			}
			accepted <- name
			c.Close()
		}
	}()

	tests := []struct {
		name string
		cert *tls.Certificate
	}{
		{name: "worker", cert: &worker.Cert},
		{name: "no cert", cert: nil},
		{name: "removed manager", cert: &removed.Cert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dialer, err := clusterconn.NewRaftStreamLayer(mux, "", func() *tls.Config {
				return clusterconn.ClientTLS(root.Trust(), tt.cert, clusterconn.ProtoRaft)
			})
			if err != nil {
				t.Fatal(err)
			}
			c, err := dialer.Dial(raft.ServerAddress(mux.Addr().String()), 5*time.Second)
			if err != nil {
				return // refused during the handshake: as good as dropped
			}
			defer c.Close()
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Error("read from the raft connection succeeded, want it closed")
			}
		})
	}

	// A manager the check admits gets through, and is the only one that did.
	c, err := stream.Dial(raft.ServerAddress(mux.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatalf("manager dial: %v", err)
	}
	defer c.Close()
	if got := <-accepted; got != manager.ID {
		t.Errorf("raft accepted node %q, want the manager %s", got, manager.ID)
	}
	stream.Close()
	for id := range accepted {
		t.Errorf("raft also accepted node %q, want only the manager", id)
	}
}

func TestRaftAdvertiseAddress(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	m, err := clusterconn.Listen(":0", clusterconn.ServerTLS(root.Trust(), manager.Cert), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	client := func() *tls.Config { return nil }
	if _, err := clusterconn.NewRaftStreamLayer(m, "", client); err == nil {
		t.Errorf("stream layer on wildcard %s without an advertise address: got no error", m.Addr())
	}
	s, err := clusterconn.NewRaftStreamLayer(m, "192.0.2.10:2377", client)
	if err != nil {
		t.Fatalf("with an advertise address: %v", err)
	}
	if got := s.Addr().String(); got != "192.0.2.10:2377" {
		t.Errorf("got address %s, want 192.0.2.10:2377", got)
	}
}
