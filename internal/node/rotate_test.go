package node

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/controlapi"
)

// TestRootRotation rotates the root CA of a cluster of two managers and a
// worker, as `docker swarm ca --rotate` does, while a worker that was
// stopped before the rotation stays down: every live node ends up trusting
// only the new root with a certificate from it, the join tokens pin the new
// root, the old token is refused, a node joins with the new one, and the
// cluster keeps working (raft replicates, every live node ready).
func TestRootRotation(t *testing.T) {
	m1 := newTestNode(t, "m1")
	m1.init(testSpec())
	m2 := newTestNode(t, "m2")
	m2.join(m1, swarm.NodeRoleManager)
	w1 := newTestNode(t, "w1")
	w1.join(m1, swarm.NodeRoleWorker)
	gone := newTestNode(t, "gone")
	gone.join(m1, swarm.NodeRoleWorker)
	live := []*testNode{m1, m2, w1}
	waitReady(t, m1, append(live, gone)...)
	gone.stop()
	eventually(t, 20*time.Second, func() string {
		if n := m1.storedNode(gone.id()); n == nil || n.Status.State != swarm.NodeStateDown {
			return "the stopped worker is not down"
		}
		return ""
	})

	before, err := m1.api().InspectSwarm(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	spec := before.Spec
	spec.CAConfig.ForceRotate++
	leader := leaderOf(t, m1, m2)
	if err := leader.api().UpdateSwarm(t.Context(), before.Version.Index, spec, controlapi.Rotation{}); err != nil {
		t.Fatalf("start the rotation: %v", err)
	}

	var after swarm.Swarm
	eventually(t, 60*time.Second, func() string {
		after, err = m2.api().InspectSwarm(t.Context())
		if err != nil {
			return err.Error()
		}
		if after.RootRotationInProgress || after.TLSInfo.TrustRoot == before.TLSInfo.TrustRoot {
			return "the rotation has not finished"
		}
		return ""
	})
	newRoot, err := ca.ParseTrust([]byte(after.TLSInfo.TrustRoot))
	if err != nil {
		t.Fatal(err)
	}
	// Every live node trusts only the new root and holds a certificate
	// from it; the node objects say so, as docker swarm ca's progress
	// reads them.
	eventually(t, 30*time.Second, func() string {
		for _, tn := range live {
			k := tn.node.keys.Load()
			if !k.trust.Equal(newRoot) {
				return fmt.Sprintf("%s trusts %d roots, not the new one alone", tn.name, len(k.trust.Roots()))
			}
			if _, err := newRoot.Issuer(k.cert.Certificate); err != nil {
				return fmt.Sprintf("%s's certificate does not verify against the new root: %v", tn.name, err)
			}
			n := m1.storedNode(tn.id())
			if n.Description.TLSInfo.TrustRoot != after.TLSInfo.TrustRoot ||
				!bytes.Equal(n.Description.TLSInfo.CertIssuerPublicKey, after.TLSInfo.CertIssuerPublicKey) {
				return fmt.Sprintf("%s's node object does not report the new root yet", tn.name)
			}
		}
		return ""
	})

	for _, tok := range []string{after.JoinTokens.Worker, after.JoinTokens.Manager} {
		parsed, err := ca.ParseJoinToken(tok)
		if err != nil || !newRoot.HasDigest(parsed.RootDigest) {
			t.Errorf("join token %s does not pin the new root (%v)", tok, err)
		}
	}
	late := newTestNode(t, "late")
	err = late.node.Join(t.Context(), swarm.JoinRequest{ListenAddr: late.addr, AdvertiseAddr: late.addr, RemoteAddrs: []string{m1.addr}, JoinToken: before.JoinTokens.Worker})
	if err == nil {
		t.Fatal("a join with the old root's token succeeded after the rotation")
	}
	late.join(m2, swarm.NodeRoleWorker)
	waitReady(t, m1, append(live, late)...)

	// Raft still replicates over the rotated certificates: a write on the
	// leader reaches the follower.
	leader = leaderOf(t, m1, m2)
	follower := m1
	if leader == m1 {
		follower = m2
	}
	cur, err := leader.api().InspectSwarm(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	limit := int64(7)
	spec = cur.Spec
	spec.Orchestration.TaskHistoryRetentionLimit = &limit
	if err := leader.api().UpdateSwarm(t.Context(), cur.Version.Index, spec, controlapi.Rotation{}); err != nil {
		t.Fatalf("a write after the rotation: %v", err)
	}
	eventually(t, 10*time.Second, func() string {
		sw, err := follower.api().InspectSwarm(t.Context())
		if err != nil || sw.Spec.Orchestration.TaskHistoryRetentionLimit == nil || *sw.Spec.Orchestration.TaskHistoryRetentionLimit != limit {
			return "the follower does not have the write made after the rotation"
		}
		return ""
	})
}

// waitReady waits until manager's store has every node ready.
func waitReady(t *testing.T, manager *testNode, nodes ...*testNode) {
	t.Helper()
	eventually(t, 30*time.Second, func() string {
		for _, tn := range nodes {
			if n := manager.storedNode(tn.id()); n == nil || n.Status.State != swarm.NodeStateReady {
				return fmt.Sprintf("%s is not ready", tn.name)
			}
		}
		return ""
	})
}
