package cli

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"
)

func TestRotationProgress(t *testing.T) {
	oldRoot, newRoot := "old-root-pem", "new-root-pem"
	oldIssuer := swarm.TLSInfo{CertIssuerSubject: []byte("ca"), CertIssuerPublicKey: []byte("old-key")}
	newIssuer := swarm.TLSInfo{CertIssuerSubject: []byte("ca"), CertIssuerPublicKey: []byte("new-key")}
	node := func(state swarm.NodeState, trust string, issuer swarm.TLSInfo) swarm.Node {
		var n swarm.Node
		n.Status.State = state
		n.Description.TLSInfo = issuer
		n.Description.TLSInfo.TrustRoot = trust
		return n
	}
	rotating := swarm.ClusterInfo{RootRotationInProgress: true, TLSInfo: newIssuer}
	rotating.TLSInfo.TrustRoot = oldRoot
	finished := swarm.ClusterInfo{TLSInfo: newIssuer}
	finished.TLSInfo.TrustRoot = newRoot
	both := oldRoot + newRoot

	tests := []struct {
		name     string
		cluster  swarm.ClusterInfo
		nodes    []swarm.Node
		wantDone bool
		want     string
	}{
		{
			name:    "started",
			cluster: rotating,
			nodes:   []swarm.Node{node(swarm.NodeStateReady, both, oldIssuer), node(swarm.NodeStateReady, both, newIssuer)},
			want:    "Rotating the root CA: 1 of 2 nodes renewed from the new root.",
		},
		{
			name:    "every node renewed, roots not yet changed",
			cluster: finished,
			nodes:   []swarm.Node{node(swarm.NodeStateReady, both, newIssuer), node(swarm.NodeStateReady, newRoot, newIssuer)},
			want:    "Rotating the root CA: the new root alone is trusted by 1 of 2 nodes.",
		},
		{
			name:     "done",
			cluster:  finished,
			nodes:    []swarm.Node{node(swarm.NodeStateReady, newRoot, newIssuer), node(swarm.NodeStateReady, newRoot, newIssuer)},
			wantDone: true,
			want:     "Root CA rotated: the new root alone is trusted by 2 nodes.",
		},
		{
			name:     "done, a node down does not hold it",
			cluster:  finished,
			nodes:    []swarm.Node{node(swarm.NodeStateReady, newRoot, newIssuer), node(swarm.NodeStateDown, oldRoot, oldIssuer)},
			wantDone: true,
			want:     "Root CA rotated: the new root alone is trusted by 1 node. 1 node is down: it must rejoin with a new token.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := progressOf(tt.cluster, tt.nodes)
			if p.done() != tt.wantDone {
				t.Errorf("got done %v, want %v (%+v)", p.done(), tt.wantDone, p)
			}
			if got := p.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
