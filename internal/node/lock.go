package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-project/shoal/internal/atomicfile"
	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

// The raft data-encryption key is kept in a PEM file: in the clear
// without autolock, sealed with the unlock key with it.
const (
	dekFile      = "raft-dek.pem"
	plainDEKType = "SHOAL RAFT DEK"
	sealedDEK    = "SHOAL ENCRYPTED RAFT DEK"
	// dekPurpose seals raft data keys.
	dekPurpose ca.Purpose = "shoal raft dek"
)

func dekPath(dir string) string { return filepath.Join(dir, dekFile) }

// newDEK makes a fresh data-encryption key for a new raft directory and
// keeps it in the clear; an autolocked manager seals it once it runs.
func newDEK(dir string) ([]byte, error) {
	dek := make([]byte, consensus.DEKSize)
	rand.Read(dek)
	return dek, saveDEK(dir, dek, nil)
}

// saveDEK writes the key, sealed with kek when it is set.
func saveDEK(dir string, dek, kek []byte) error {
	block := &pem.Block{Type: plainDEKType, Bytes: dek}
	if kek != nil {
		sealed, err := ca.Seal(kek, dek, dekPurpose)
		if err != nil {
			return err
		}
		block = &pem.Block{Type: sealedDEK, Headers: map[string]string{"KDF": "HKDF-SHA256", "Cipher": "AES-256-GCM"}, Bytes: sealed}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Synced before the rename: a crash must never leave an empty key in
	// place of the one that opens the raft log.
	return atomicfile.Write(dekPath(dir), pem.EncodeToMemory(block), 0o600)
}

// loadDEK reads the key, unsealing it with kek. A raft directory from
// before keys existed has none: nil, and raft runs unencrypted. A sealed
// key without kek is errdefs.Unavailable (locked), with a wrong one
// errdefs.Invalid.
func loadDEK(dir string, kek []byte) ([]byte, error) {
	data, err := os.ReadFile(dekPath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	switch {
	case block == nil:
		return nil, fmt.Errorf("raft key %s is not PEM", dekPath(dir))
	case block.Type == plainDEKType:
		return block.Bytes, nil
	case block.Type != sealedDEK:
		return nil, fmt.Errorf("raft key %s: unknown PEM type %q", dekPath(dir), block.Type)
	case kek == nil:
		return nil, errdefs.Unavailable("raft key %s is encrypted: the manager is locked", dekPath(dir))
	}
	dek, err := ca.Unseal(kek, block.Bytes, dekPurpose)
	if err != nil {
		return nil, errdefs.Invalid("cannot decrypt raft key %s: the unlock key is wrong (%w)", dekPath(dir), err)
	}
	return dek, nil
}

// desiredKEK is the key-encryption key the cluster asks for: its unlock
// key's bytes when autolock is on, nil when off.
func desiredKEK(c *store.Cluster) ([]byte, error) {
	if c.UnlockKey == "" {
		return nil, nil
	}
	return controlapi.ParseUnlockKey(c.UnlockKey)
}

// followUnlockKey keeps this manager's secrets at rest sealed with the
// cluster's unlock key — sealed when autolock is turned on, re-sealed when
// the key rotates, in the clear when it is turned off — until ctx ends.
func (n *Node) followUnlockKey(ctx context.Context, st *store.Store, dek []byte) {
	sub := st.Subscribe()
	defer sub.Close()
	first := true
	for {
		var c *store.Cluster
		st.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
		// Until raft brings the cluster object there is nothing to follow.
		if c != nil {
			if err := n.sealWith(ctx, c, dek, first); err != nil {
				if ctx.Err() == nil {
					n.log.Error("seal this manager's keys with the unlock key", "err", err)
				}
			} else {
				first = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-sub.Wake():
			sub.Drain()
		}
	}
}

// sealWith re-seals the node key and the raft key with the key c asks
// for, when it is not the one they are sealed with (or always, with
// force: after an unlock, one of the two may be in the clear still).
func (n *Node) sealWith(ctx context.Context, c *store.Cluster, dek []byte, force bool) error {
	kek, err := desiredKEK(c)
	if err != nil {
		return err
	}
	if err := n.lockOp(ctx); err != nil {
		return err
	}
	defer n.unlockOp()
	if !force && bytes.Equal(kek, n.kek) {
		return nil
	}
	keys := n.keys.Load()
	if keys == nil {
		return nil
	}
	if dek != nil {
		if err := saveDEK(n.dir, dek, kek); err != nil {
			return err
		}
	}
	if err := keys.save(n.keyStore(kek)); err != nil {
		return err
	}
	if !bytes.Equal(kek, n.kek) {
		n.log.Info("this manager's keys at rest follow the swarm's autolock", "locked", kek != nil)
	}
	n.kek = kek
	return nil
}
