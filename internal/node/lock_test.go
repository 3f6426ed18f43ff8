package node

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// sealedState says whether tn's node key and raft key are sealed, as
// "key=<PEM type> dek=<PEM type>".
func sealedState(t *testing.T, tn *testNode) string {
	t.Helper()
	pemType := func(path string) string {
		data, err := os.ReadFile(path)
		if err != nil {
			return err.Error()
		}
		b, _ := pem.Decode(data)
		if b == nil {
			return "(not PEM)"
		}
		return b.Type
	}
	return fmt.Sprintf("key=%s dek=%s", pemType(filepath.Join(tn.node.dir, "certificates", ca.NodeKeyFile)), pemType(dekPath(tn.node.dir)))
}

const (
	sealedFiles = "key=SHOAL ENCRYPTED KEY dek=SHOAL ENCRYPTED RAFT DEK"
	plainFiles  = "key=EC PRIVATE KEY dek=SHOAL RAFT DEK"
)

func waitSealed(t *testing.T, want string, nodes ...*testNode) {
	t.Helper()
	eventually(t, 10*time.Second, func() string {
		for _, n := range nodes {
			if got := sealedState(t, n); got != want {
				return fmt.Sprintf("%s: %s, want %s", n.name, got, want)
			}
		}
		return ""
	})
}

func updateSwarm(t *testing.T, leader *testNode, change func(*swarm.Spec), rot controlapi.Rotation) {
	t.Helper()
	sw, err := leader.api().InspectSwarm(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	spec := sw.Spec
	change(&spec)
	if err := leader.api().UpdateSwarm(t.Context(), sw.Version.Index, spec, rot); err != nil {
		t.Fatal(err)
	}
}

func TestAutolock(t *testing.T) {
	m1, m2 := newTestNode(t, "m1"), newTestNode(t, "m2")
	spec := testSpec()
	spec.EncryptionConfig.AutoLockManagers = true
	m1.init(spec)
	m2.join(m1, swarm.NodeRoleManager)
	key, err := m1.api().UnlockKey(t.Context())
	if err != nil || !strings.HasPrefix(key, "SWMKEY-1-") {
		t.Fatalf("unlock key after swarm init --autolock: %q, %v", key, err)
	}
	waitSealed(t, sealedFiles, m1, m2)
	putService(t, leaderOf(t, m1, m2), "kept-under-lock")
	for _, m := range []*testNode{m1, m2} {
		if hits := filesContaining(t, raftDir(m.node.dir), "kept-under-lock"); len(hits) > 0 {
			t.Fatalf("%s keeps the swarm's state in the clear in %v", m.name, hits)
		}
	}

	m1.restart()
	if info := m1.node.Info(t.Context()); info.LocalNodeState != swarm.LocalNodeStateLocked || info.NodeID != m1.id() {
		t.Fatalf("info of a restarted autolocked manager: %+v, want locked", info)
	}
	if _, err := m1.node.Control(); err == nil || err.Error() != `Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to unlock it.` || !errdefs.Is(err, errdefs.KindUnavailable) {
		t.Fatalf("control API of a locked manager: got %v, want the locked error", err)
	}
	if rt := m1.node.Forwarder(); rt != nil {
		t.Fatal("a locked manager forwards writes")
	}
	// As dockerd: a key that does not parse is a 400, a key that parses
	// but does not open the node's keys a 401.
	for _, tt := range []struct {
		name, key string
		kind      errdefs.Kind
		msg       string
	}{
		{"another key", controlapi.NewUnlockKey(), errdefs.KindUnauthorized, "swarm could not be unlocked: invalid key provided"},
		{"malformed", "SWMKEY-1-???", errdefs.KindInvalid, "invalid key string"},
		{"empty", "", errdefs.KindInvalid, "invalid key string"},
	} {
		err := m1.node.Unlock(t.Context(), tt.key)
		if !errdefs.Is(err, tt.kind) || err.Error() != tt.msg {
			t.Fatalf("unlock with %s: got %v (kind %v), want %q of kind %v", tt.name, err, errdefs.KindOf(err), tt.msg, tt.kind)
		}
	}
	if info := m1.node.Info(t.Context()); info.LocalNodeState != swarm.LocalNodeStateLocked {
		t.Fatalf("after wrong keys the manager is %s, want still locked", info.LocalNodeState)
	}
	if err := m1.node.Unlock(t.Context(), key); err != nil {
		t.Fatalf("unlock with the right key: %v", err)
	}
	if _, err := m1.node.Control(); err != nil {
		t.Fatalf("control API after unlock: %v", err)
	}
	eventually(t, 10*time.Second, func() string {
		if !hasService(m1, "kept-under-lock") {
			return "the unlocked manager does not have the swarm's state"
		}
		return ""
	})
	if err := m1.node.Unlock(t.Context(), key); !errdefs.Is(err, errdefs.KindConflict) || err.Error() != "swarm is not locked" {
		t.Fatalf("unlock of an unlocked manager: got %v, want swarm is not locked", err)
	}

	// A rotated key re-seals both managers' keys; the old one no longer
	// opens them.
	updateSwarm(t, leaderOf(t, m1, m2), func(*swarm.Spec) {}, controlapi.Rotation{ManagerUnlockKey: true})
	newKey, err := leaderOf(t, m1, m2).api().UnlockKey(t.Context())
	if err != nil || newKey == key {
		t.Fatalf("rotated unlock key %q, %v; want a new one", newKey, err)
	}
	oldKEK, _ := controlapi.ParseUnlockKey(key)
	newKEK, _ := controlapi.ParseUnlockKey(newKey)
	eventually(t, 10*time.Second, func() string {
		for _, m := range []*testNode{m1, m2} {
			if _, err := loadDEK(m.node.dir, newKEK); err != nil {
				return fmt.Sprintf("%s: the new key does not open the raft key: %v", m.name, err)
			}
			if _, err := loadKeys(m.node.keyStore(newKEK)); err != nil {
				return fmt.Sprintf("%s: the new key does not open the node key: %v", m.name, err)
			}
		}
		return ""
	})
	if _, err := loadDEK(m2.node.dir, oldKEK); !errdefs.Is(err, errdefs.KindInvalid) {
		t.Fatalf("the old key on the re-sealed raft key: got %v, want invalid", err)
	}

	// Autolock off: the keys are in the clear again, and a restart does
	// not lock.
	updateSwarm(t, leaderOf(t, m1, m2), func(s *swarm.Spec) { s.EncryptionConfig.AutoLockManagers = false }, controlapi.Rotation{})
	waitSealed(t, plainFiles, m1, m2)
	m2.restart()
	if info := m2.node.Info(t.Context()); info.LocalNodeState != swarm.LocalNodeStateActive {
		t.Fatalf("a manager restarted after autolock was turned off is %s, want active", info.LocalNodeState)
	}
	eventually(t, 10*time.Second, func() string {
		if !hasService(m2, "kept-under-lock") {
			return "the restarted manager does not have the swarm's state"
		}
		return ""
	})
}

func TestLockedManagerCanLeave(t *testing.T) {
	m1 := newTestNode(t, "m1")
	spec := testSpec()
	spec.EncryptionConfig.AutoLockManagers = true
	m1.init(spec)
	waitSealed(t, sealedFiles, m1)
	m1.restart()
	if _, err := m1.node.Init(t.Context(), swarm.InitRequest{ListenAddr: m1.addr}); err == nil || !strings.Contains(err.Error(), "Swarm is encrypted") {
		t.Fatalf("init on a locked manager: got %v, want the locked error", err)
	}
	if err := m1.node.Join(t.Context(), swarm.JoinRequest{ListenAddr: m1.addr, RemoteAddrs: []string{m1.addr}, JoinToken: "SWMTKN-1-x"}); err == nil || !strings.Contains(err.Error(), "Swarm is encrypted") {
		t.Fatalf("join on a locked manager: got %v, want the locked error", err)
	}
	if err := m1.node.Leave(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if info := m1.node.Info(t.Context()); info.LocalNodeState != swarm.LocalNodeStateInactive {
		t.Fatalf("after leave the node is %s, want inactive", info.LocalNodeState)
	}
	m1.init(testSpec())
}

// filesContaining lists the files under dir that hold s.
func filesContaining(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(s)) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func TestDEKFile(t *testing.T) {
	kek, _ := controlapi.ParseUnlockKey(controlapi.NewUnlockKey())
	other, _ := controlapi.ParseUnlockKey(controlapi.NewUnlockKey())
	dek := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name     string
		sealWith []byte // nil: saved in the clear
		missing  bool
		openWith []byte
		want     []byte
		wantKind errdefs.Kind
	}{
		{name: "in the clear", openWith: nil, want: dek},
		{name: "in the clear, opened with a key", openWith: kek, want: dek},
		{name: "sealed, right key", sealWith: kek, openWith: kek, want: dek},
		{name: "sealed, no key: locked", sealWith: kek, wantKind: errdefs.KindUnavailable},
		{name: "sealed, wrong key", sealWith: kek, openWith: other, wantKind: errdefs.KindInvalid},
		{name: "no file: raft without encryption", missing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if !tt.missing {
				if err := saveDEK(dir, dek, tt.sealWith); err != nil {
					t.Fatal(err)
				}
			}
			got, err := loadDEK(dir, tt.openWith)
			if tt.wantKind != errdefs.KindUnknown {
				if !errdefs.Is(err, tt.wantKind) {
					t.Fatalf("got %v, want an error of kind %d", err, tt.wantKind)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("got %x, %v; want %x", got, err, tt.want)
			}
		})
	}
}
