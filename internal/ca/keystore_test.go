package ca

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestKeyStoreRoundTrip(t *testing.T) {
	root := newRoot(t)
	certPEM, keyPEM := issue(t, root, "node1", ManagerRole, 0)
	for _, tt := range []struct {
		name string
		kek  []byte
	}{
		{"plaintext", nil},
		{"encrypted", []byte("0123456789abcdef0123456789abcdef")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ks := KeyStore{Dir: filepath.Join(t.TempDir(), "certificates"), KEK: tt.kek}
			if err := ks.SaveRootCert(root.CertPEM()); err != nil {
				t.Fatalf("SaveRootCert: %v", err)
			}
			if err := ks.SaveNode(certPEM, keyPEM); err != nil {
				t.Fatalf("SaveNode: %v", err)
			}
			gotRoot, err := ks.LoadRootCert()
			if err != nil {
				t.Fatalf("LoadRootCert: %v", err)
			}
			if !bytes.Equal(gotRoot, root.CertPEM()) {
				t.Error("loaded root certificate differs from the saved one")
			}
			gotCert, gotKey, err := ks.LoadNode()
			if err != nil {
				t.Fatalf("LoadNode: %v", err)
			}
			if !bytes.Equal(gotCert, certPEM) || !bytes.Equal(gotKey, keyPEM) {
				t.Error("loaded node certificate or key differs from the saved one")
			}

			onDisk, err := os.ReadFile(filepath.Join(ks.Dir, NodeKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if encrypted := !bytes.Equal(onDisk, keyPEM); encrypted != (tt.kek != nil) {
				t.Errorf("key on disk encrypted = %v, want %v", encrypted, tt.kek != nil)
			}
			fi, err := os.Stat(filepath.Join(ks.Dir, NodeKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("got key file mode %o, want 600", perm)
			}
			entries, err := os.ReadDir(ks.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 3 {
				t.Errorf("got %d files in %s, want 3 (no temp files left)", len(entries), ks.Dir)
			}
		})
	}
}

func TestKeyStoreEncryptedKeyErrors(t *testing.T) {
	root := newRoot(t)
	certPEM, keyPEM := issue(t, root, "node1", WorkerRole, 0)
	dir := t.TempDir()
	if err := (KeyStore{Dir: dir, KEK: []byte("right key")}).SaveNode(certPEM, keyPEM); err != nil {
		t.Fatalf("SaveNode: %v", err)
	}
	tests := []struct {
		name     string
		kek      []byte
		wantKind errdefs.Kind
		wantMsg  string
	}{
		{"wrong KEK", []byte("wrong key"), errdefs.KindInvalid, "unlock key is wrong"},
		{"no KEK", nil, errdefs.KindUnavailable, "node is locked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := KeyStore{Dir: dir, KEK: tt.kek}.LoadNode()
			if got := errdefs.KindOf(err); got != tt.wantKind {
				t.Fatalf("got error %v (kind %d), want kind %d", err, got, tt.wantKind)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

// Turning autolock on must not strand a node whose key was saved in clear.
func TestKeyStorePlaintextKeyLoadsWithKEK(t *testing.T) {
	root := newRoot(t)
	certPEM, keyPEM := issue(t, root, "node1", WorkerRole, 0)
	dir := t.TempDir()
	if err := (KeyStore{Dir: dir}).SaveNode(certPEM, keyPEM); err != nil {
		t.Fatalf("SaveNode: %v", err)
	}
	_, got, err := KeyStore{Dir: dir, KEK: []byte("k")}.LoadNode()
	if err != nil {
		t.Fatalf("LoadNode: %v", err)
	}
	if !bytes.Equal(got, keyPEM) {
		t.Error("loaded key differs from the saved one")
	}
}

func TestKeyStoreMissing(t *testing.T) {
	ks := KeyStore{Dir: t.TempDir()}
	if _, err := ks.LoadRootCert(); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("LoadRootCert: got %v, want NotFound", err)
	}
	if _, _, err := ks.LoadNode(); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("LoadNode: got %v, want NotFound", err)
	}
}
