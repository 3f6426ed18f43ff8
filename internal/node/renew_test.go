package node

import (
	"time"

	"testing"

	"github.com/moby/moby/api/types/swarm"
)

// TestRenewCertificateKeepsTheNodeServing renews a manager's and a
// worker's certificates and checks that they are new, of the same role,
// and that the cluster still works with them.
func TestRenewCertificateKeepsTheNodeServing(t *testing.T) {
	m := newTestNode(t, "m1")
	m.start()
	m.init(testSpec())
	w := newTestNode(t, "w1")
	w.start()
	w.join(m, swarm.NodeRoleWorker)

	for _, tn := range []*testNode{m, w} {
		before := tn.node.keys.Load().cert.Leaf
		if err := tn.node.renewCertificate(t.Context()); err != nil {
			t.Fatalf("%s: renew: %v", tn.name, err)
		}
		after := tn.node.keys.Load().cert.Leaf
		if after.SerialNumber.Cmp(before.SerialNumber) == 0 {
			t.Fatalf("%s: certificate not replaced", tn.name)
		}
		if after.Subject.CommonName != before.Subject.CommonName || after.Subject.OrganizationalUnit[0] != before.Subject.OrganizationalUnit[0] {
			t.Fatalf("%s: renewed as %s/%v, want %s/%v", tn.name, after.Subject.CommonName, after.Subject.OrganizationalUnit, before.Subject.CommonName, before.Subject.OrganizationalUnit)
		}
	}
	// New connections use the renewed certificates: a restarted worker
	// comes back ready through the manager serving its renewed one.
	w.restart()
	eventually(t, 20*time.Second, func() string {
		if n := m.storedNode(w.id()); n == nil || n.Status.State != swarm.NodeStateReady {
			return "the restarted worker is not ready"
		}
		return ""
	})
}
