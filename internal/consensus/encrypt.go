package consensus

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// DEKSize is the length of a data-encryption key (AES-256).
const DEKSize = 32

// sealer encrypts raft data at rest with AES-256-GCM under the manager's
// data-encryption key. Each value is bound to where it belongs (a log
// entry's index and type, a snapshot's index and term), so that values
// cannot be swapped on disk unnoticed.
type sealer struct{ aead cipher.AEAD }

func newSealer(dek []byte) (*sealer, error) {
	if len(dek) != DEKSize {
		return nil, fmt.Errorf("consensus: data-encryption key of %d bytes, want %d", len(dek), DEKSize)
	}
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal returns nonce | ciphertext.
func (s *sealer) seal(plain, ad []byte) []byte {
	out := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(out)
	return s.aead.Seal(out, out, plain, ad)
}

func (s *sealer) open(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("encrypted value is truncated")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], ad)
}

func bound(kind byte, a, b uint64) []byte {
	ad := make([]byte, 17)
	ad[0] = kind
	binary.BigEndian.PutUint64(ad[1:], a)
	binary.BigEndian.PutUint64(ad[9:], b)
	return ad
}

func logAD(l *raft.Log) []byte { return bound('L', l.Index, uint64(l.Type)) }

// sealedLogs is a raft.LogStore that keeps each entry's Data encrypted.
// Raft itself, and the followers it replicates to, see plaintext.
type sealedLogs struct {
	raft.LogStore
	s *sealer
}

func (l *sealedLogs) GetLog(index uint64, out *raft.Log) error {
	if err := l.LogStore.GetLog(index, out); err != nil {
		return err
	}
	if len(out.Data) == 0 {
		return nil
	}
	plain, err := l.s.open(out.Data, logAD(out))
	if err != nil {
		return fmt.Errorf("consensus: decrypt log entry %d: %w", index, err)
	}
	out.Data = plain
	return nil
}

func (l *sealedLogs) StoreLog(log *raft.Log) error { return l.StoreLogs([]*raft.Log{log}) }

func (l *sealedLogs) StoreLogs(logs []*raft.Log) error {
	sealed := make([]*raft.Log, len(logs))
	for i, lg := range logs {
		// Raft keeps using its entries after storing them (to apply and
		// replicate): encrypt copies.
		c := *lg
		if len(c.Data) > 0 {
			c.Data = l.s.seal(lg.Data, logAD(lg))
		}
		sealed[i] = &c
	}
	return l.LogStore.StoreLogs(sealed)
}

// sealedSnapshots is a raft.SnapshotStore whose snapshot files are
// encrypted. Snapshots are the store's serialised bytes, already held in
// memory whole, so each is sealed as one value.
type sealedSnapshots struct {
	raft.SnapshotStore
	s *sealer
}

func (ss *sealedSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := ss.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return &sealingSink{SnapshotSink: sink, s: ss.s, ad: bound('S', index, term)}, nil
}

func (ss *sealedSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := ss.SnapshotStore.Open(id)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	sealed, err := io.ReadAll(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: read snapshot %s: %w", id, err)
	}
	plain, err := ss.s.open(sealed, bound('S', meta.Index, meta.Term))
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: decrypt snapshot %s: %w", id, err)
	}
	// Raft sends Size bytes to a follower installing the snapshot: it
	// must be the size of what the reader gives.
	m := *meta
	m.Size = int64(len(plain))
	return &m, io.NopCloser(bytes.NewReader(plain)), nil
}

type sealingSink struct {
	raft.SnapshotSink
	s      *sealer
	ad     []byte
	buf    bytes.Buffer
	closed bool
}

func (k *sealingSink) Write(p []byte) (int, error) { return k.buf.Write(p) }

// Close seals what was written and writes it out. Raft may close a sink
// twice (RecoverCluster does): the second time does nothing.
func (k *sealingSink) Close() error {
	if k.closed {
		return nil
	}
	k.closed = true
	if _, err := k.SnapshotSink.Write(k.s.seal(k.buf.Bytes(), k.ad)); err != nil {
		k.SnapshotSink.Cancel()
		return err
	}
	return k.SnapshotSink.Close()
}

func (k *sealingSink) Cancel() error {
	k.closed = true
	return k.SnapshotSink.Cancel()
}
