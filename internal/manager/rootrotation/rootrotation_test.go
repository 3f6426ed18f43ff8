package rootrotation_test

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/manager/rootrotation"
	"github.com/shoal-project/shoal/internal/rootca"
	"github.com/shoal-project/shoal/internal/store"
)

// TestFinishesOnceEveryNodeRenewed runs the loop over a store where a
// rotation is under way: it must wait while a node still reports a
// certificate of the old root, and make the new root the only one as soon
// as that node reports one of the new root.
func TestFinishesOnceEveryNodeRenewed(t *testing.T) {
	old, err := ca.NewRootCA()
	if err != nil {
		t.Fatal(err)
	}
	next, err := ca.NewRootCA()
	if err != nil {
		t.Fatal(err)
	}
	base := &store.Cluster{Swarm: swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "c1"}}, RootCACert: old.CertPEM(), RootCAKey: old.KeyPEM()}
	rot, err := rootca.Start(base, next)
	if err != nil {
		t.Fatal(err)
	}
	oldInfo, err := rootca.Desired(base)
	if err != nil {
		t.Fatal(err)
	}
	newInfo, err := rootca.Desired(rot)
	if err != nil {
		t.Fatal(err)
	}
	node := func(id string, info swarm.TLSInfo) *store.Node {
		n := ct.Node(id)
		n.Description.TLSInfo = info
		return n
	}

	synctest.Test(t, func(t *testing.T) {
		st := ct.NewStore(t)
		ct.Put(t, st, rot, node("a", newInfo), node("b", oldInfo))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- rootrotation.New(st, slog.New(slog.DiscardHandler)).Run(ctx) }()
		defer func() { cancel(); <-done }()

		time.Sleep(time.Minute)
		synctest.Wait()
		if c := theCluster(st); c.RootRotation == nil {
			t.Fatal("the rotation finished while node b still holds a certificate of the old root")
		}

		ct.Put(t, st, node("b", newInfo))
		time.Sleep(time.Second)
		synctest.Wait()
		c := theCluster(st)
		if c.RootRotation != nil || c.RootRotationInProgress {
			t.Fatal("the rotation did not finish once every node renewed")
		}
		if string(c.RootCACert) != string(next.CertPEM()) {
			t.Error("the root is not the new one")
		}
	})
}

func theCluster(st *store.Store) *store.Cluster {
	var c *store.Cluster
	st.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
	return c
}
