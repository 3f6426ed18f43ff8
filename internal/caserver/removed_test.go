package caserver

import (
	"log/slog"
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/store"
)

// TestRemovedNodeIsRefused serves the CA behind RefuseRemoved, as a
// manager's cluster port does, and checks that a removed node's still
// valid certificate gets it nothing, while other members go on.
func TestRemovedNodeIsRefused(t *testing.T) {
	st, root, _, c := cluster(t)
	removed := clusterconntest.NewNode(t, root, ca.WorkerRole)
	member := clusterconntest.NewNode(t, root, ca.WorkerRole)
	if err := st.Update(t.Context(), func(tx *store.WriteTx) error {
		cl := store.Clone(c)
		cl.RemovedNodes = []string{removed.ID}
		if err := tx.Put(cl); err != nil {
			return err
		}
		// Even with a node object (it rejoined under its old ID by some
		// mistake), the removed ID stays refused.
		for _, id := range []string{removed.ID, member.ID} {
			if err := tx.Put(&store.Node{Node: swarm.Node{ID: id, Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker}}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mgr := clusterconntest.NewNode(t, root, ca.ManagerRole)
	mux := clusterconntest.Listen(t, root, mgr)
	unary, stream := RefuseRemoved(st)
	srv := clusterconn.NewGRPCServer(Policy(), grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))
	New(st, slog.New(slog.DiscardHandler)).Register(srv)
	go srv.Serve(mux.GRPC())
	t.Cleanup(srv.Stop)
	addr := mux.Addr().String()

	_, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Issue(t.Context(), clusterconntest.Dial(t, root, addr, &removed), &IssueRequest{CSR: csr})
	if status.Code(err) != codes.NotFound || status.Convert(err).Message() != "node "+removed.ID+" was removed from the swarm" {
		t.Fatalf("renewal by a removed node: got %v, want NotFound: node %s was removed from the swarm", err, removed.ID)
	}
	if _, err := Root(t.Context(), clusterconntest.Dial(t, root, addr, &removed)); status.Code(err) != codes.NotFound {
		t.Fatalf("root certificate for a removed node: got %v, want NotFound", err)
	}
	if _, err := Issue(t.Context(), clusterconntest.Dial(t, root, addr, &member), &IssueRequest{CSR: csr}); err != nil {
		t.Fatalf("renewal by a member: %v", err)
	}
	if _, err := Root(t.Context(), clusterconntest.Dial(t, root, addr, nil)); err != nil {
		t.Fatalf("root certificate for a joining node: %v", err)
	}
}

func TestRemovedWithoutInterceptorStillRefusedByIssue(t *testing.T) {
	st, root, addr, c := cluster(t)
	removed := clusterconntest.NewNode(t, root, ca.WorkerRole)
	if err := st.Update(t.Context(), func(tx *store.WriteTx) error {
		cl := store.Clone(c)
		cl.RemovedNodes = []string{removed.ID}
		return tx.Put(cl)
	}); err != nil {
		t.Fatal(err)
	}
	_, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Issue(t.Context(), clusterconntest.Dial(t, root, addr, &removed), &IssueRequest{CSR: csr})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("renewal by a removed node: got %v, want NotFound", err)
	}
}

// TestNodeGoneFromTheStoreGetsNoCertificate: the removed list keeps only
// the newest IDs (controlapi.rememberRemoved), so a node removed long ago
// is refused because the store no longer holds it.
func TestNodeGoneFromTheStoreGetsNoCertificate(t *testing.T) {
	_, root, addr, _ := cluster(t)
	gone := clusterconntest.NewNode(t, root, ca.WorkerRole)
	_, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := Issue(t.Context(), clusterconntest.Dial(t, root, addr, &gone), &IssueRequest{CSR: csr})
	if want := "node " + gone.ID + " is no longer a member of this swarm"; status.Code(err) != codes.PermissionDenied || status.Convert(err).Message() != want {
		t.Fatalf("renewal by a node the store does not hold: got %+v, %v; want PermissionDenied: %s", resp, err, want)
	}
}
