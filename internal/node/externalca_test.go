package node

import (
	"bytes"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/externalca/cfssltest"
	"github.com/shoal-project/shoal/internal/store"
)

// TestExternalCA makes a swarm whose certificates a real CFSSL server
// signs (swarm init --external-ca protocol=cfssl,url=...,cacert=...): the
// swarm never holds the root key, the first manager's certificate and a
// joining worker's both come from the external CA, and with the CA down a
// join fails with an error that names it and leaves no node behind.
func TestExternalCA(t *testing.T) {
	root, err := ca.NewRootCA()
	if err != nil {
		t.Fatal(err)
	}
	cfssl := cfssltest.Serve(t, root)
	m := newTestNode(t, "m1")
	spec := testSpec()
	spec.CAConfig.ExternalCAs = []*swarm.ExternalCA{{Protocol: swarm.ExternalCAProtocolCFSSL, URL: cfssl.URL, CACert: string(root.CertPEM())}}
	m.init(spec)

	var c *store.Cluster
	_, mgr, _, _ := m.node.snapshot()
	mgr.store.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
	if len(c.RootCAKey) != 0 || !bytes.Equal(c.RootCACert, root.CertPEM()) {
		t.Fatalf("the swarm's root is not the external CA's, or it holds a key (%d bytes)", len(c.RootCAKey))
	}
	w := newTestNode(t, "w1")
	w.join(m, swarm.NodeRoleWorker)
	for _, tn := range []*testNode{m, w} {
		k := tn.node.keys.Load()
		issuer, err := root.Trust().Issuer(k.cert.Certificate)
		if err != nil || !bytes.Equal(issuer.Raw, root.Cert().Raw) {
			t.Errorf("%s's certificate is not signed by the external CA's root: %v", tn.name, err)
		}
		if got := k.cert.Leaf.Subject.CommonName; got != tn.id() {
			t.Errorf("%s's certificate names %s, want its node ID %s", tn.name, got, tn.id())
		}
	}
	if got := cfssl.Signed(); got != 2 {
		t.Errorf("the external CA signed %d certificates, want 2 (the manager's and the worker's)", got)
	}
	waitReady(t, m, m, w)

	cfssl.Close()
	sw, err := m.api().InspectSwarm(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	before := nodeCount(m)
	late := newTestNode(t, "late")
	err = late.node.Join(t.Context(), swarm.JoinRequest{ListenAddr: late.addr, AdvertiseAddr: late.addr, RemoteAddrs: []string{m.addr}, JoinToken: sw.JoinTokens.Worker})
	if !errdefs.Is(err, errdefs.KindUnavailable) || !strings.Contains(err.Error(), cfssl.URL) {
		t.Fatalf("join with the external CA down: got %v, want Unavailable naming %s", err, cfssl.URL)
	}
	if after := nodeCount(m); after != before {
		t.Errorf("a join the CA could not sign left a node behind: %d nodes, was %d", after, before)
	}

	// Without the root key, a rotation or dropping the external CA is refused.
	for name, change := range map[string]func(*swarm.Spec){
		"rotate":           func(s *swarm.Spec) { s.CAConfig.ForceRotate++ },
		"drop external CA": func(s *swarm.Spec) { s.CAConfig.ExternalCAs = nil },
		"unknown protocol": func(s *swarm.Spec) { s.CAConfig.ExternalCAs[0].Protocol = "acme" },
	} {
		spec := sw.Spec
		spec.CAConfig.ExternalCAs = []*swarm.ExternalCA{{Protocol: swarm.ExternalCAProtocolCFSSL, URL: cfssl.URL, CACert: string(root.CertPEM())}}
		change(&spec)
		if err := m.api().UpdateSwarm(t.Context(), sw.Version.Index, spec, controlapi.Rotation{}); err == nil {
			t.Errorf("%s without the root key: accepted, want refused", name)
		}
	}
}

func nodeCount(tn *testNode) int {
	_, mgr, _, _ := tn.node.snapshot()
	var n int
	mgr.store.View(func(tx store.ReadTx) { n = len(store.All[*store.Node](tx)) })
	return n
}
