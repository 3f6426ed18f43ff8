// Package backup is the file format of `shoal swarm backup`: a manager's
// whole store (services, tasks, nodes, networks, secrets, configs, and the
// cluster object with its identity, join tokens and root CA key) at one
// raft index, encrypted as a manager keeps it at rest.
//
// A backup is a first line naming the format, a line of JSON (Header, in
// the clear: what the backup is of), then the state, sealed
// with AES-256-GCM under a fresh data key (ca.Seal, bound to the header).
// It is not compressed: a leak of plaintext stays findable by a test.
// The data key is in the header: sealed with the swarm's unlock key when
// the swarm is autolocked, in the clear otherwise — as a manager's raft
// data key is on its disk. A backup of an autolocked swarm is useless
// without that unlock key; any other backup is as sensitive as a
// manager's data root.
package backup

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// magic is a backup's first line.
const magic = "SHOAL SWARM BACKUP 1\n"

// MaxState bounds the state a backup may hold, so that a hostile file
// cannot exhaust the memory of the daemon that reads it.
const MaxState = 1 << 30

// maxSealed is MaxState sealed: salt, nonce and tag around it.
const maxSealed = MaxState + 128

// maxHeader bounds the header line.
const maxHeader = 64 << 10

const (
	keyPurpose ca.Purpose = "shoal swarm backup key"
	keySize               = 32
)

// Header is what a backup says of itself, in the clear.
type Header struct {
	ClusterID string
	// Index is the raft index the state was saved at.
	Index   uint64
	TakenAt time.Time
	// TakenOn is the ID of the manager that took it.
	TakenOn string
	// Autolocked: Key is sealed with the swarm's unlock key (of when the
	// backup was taken).
	Autolocked bool
	// Key is the data key the state is sealed with, sealed itself when
	// Autolocked.
	Key []byte
}

// RestoreRequest is how a node restored from a backup takes its place:
// its addresses, as for swarm init, and the swarm's unlock key of when the
// backup was taken, when the swarm was autolocked.
type RestoreRequest struct {
	ListenAddr    string
	AdvertiseAddr string
	DataPathAddr  string
	Availability  swarm.NodeAvailability
	UnlockKey     string
}

// UnlockKeyHeader carries the swarm's unlock key to POST
// /shoal/swarm/restore: in a header rather than the query, which access
// logs keep.
const UnlockKeyHeader = "X-Shoal-Unlock-Key"

// Write writes a backup of state (store.Save's output) described by h.
// With kek (the unlock key's bytes of an autolocked swarm) the data key
// is sealed with it; without, it is written in the clear.
func Write(w io.Writer, h Header, state []byte, kek []byte) error {
	key := make([]byte, keySize)
	rand.Read(key)
	h.Autolocked = kek != nil
	h.Key = key
	if kek != nil {
		sealed, err := ca.Seal(kek, key, keyPurpose)
		if err != nil {
			return err
		}
		h.Key = sealed
	}
	line, err := json.Marshal(h)
	if err != nil {
		return err
	}
	sealed, err := ca.Seal(key, state, statePurpose(line))
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(magic)
	bw.Write(line)
	bw.WriteByte('\n')
	bw.Write(sealed)
	return bw.Flush()
}

// statePurpose binds the sealed state to its header: a header cannot be
// put before another backup's state.
func statePurpose(header []byte) ca.Purpose {
	sum := sha256.Sum256(header)
	return ca.Purpose("shoal swarm backup state " + hex.EncodeToString(sum[:]))
}

// ReadHeader reads what a backup says of itself.
func ReadHeader(r io.Reader) (Header, error) {
	h, _, err := readHeader(bufio.NewReader(r))
	return h, err
}

// readHeader reads a backup's header and returns it with its line; the
// rest of br is the sealed state.
func readHeader(br *bufio.Reader) (Header, []byte, error) {
	first, err := readLine(br, len(magic))
	if err != nil || first+"\n" != magic {
		return Header{}, nil, errdefs.Invalid("not a Shoal swarm backup (it should start with %q)", magic[:len(magic)-1])
	}
	line, err := readLine(br, maxHeader)
	if err != nil {
		return Header{}, nil, errdefs.Invalid("backup header: %v", err)
	}
	var h Header
	if err := json.Unmarshal([]byte(line), &h); err != nil {
		return Header{}, nil, errdefs.Invalid("backup header: %v", err)
	}
	if h.ClusterID == "" || h.Index == 0 || len(h.Key) == 0 {
		return Header{}, nil, errdefs.Invalid("backup header: ClusterID, Index and Key are required")
	}
	return h, []byte(line), nil
}

// Read reads a backup and returns its header and state. kek is the
// swarm's unlock key's bytes (controlapi.ParseUnlockKey), needed when the
// backup is autolocked and ignored otherwise.
func Read(r io.Reader, kek []byte) (Header, []byte, error) {
	br := bufio.NewReader(r)
	h, line, err := readHeader(br)
	if err != nil {
		return Header{}, nil, err
	}
	key := h.Key
	if h.Autolocked {
		if kek == nil {
			return Header{}, nil, errdefs.Invalid("this backup is of an autolocked swarm: give the swarm's unlock key of when it was taken (--unlock-key)")
		}
		if key, err = ca.Unseal(kek, h.Key, keyPurpose); err != nil {
			return Header{}, nil, errdefs.Invalid("cannot open the backup: the unlock key is not the one of when it was taken")
		}
	}
	sealed, err := io.ReadAll(io.LimitReader(br, maxSealed+1))
	if err != nil {
		return Header{}, nil, err
	}
	if len(sealed) > maxSealed {
		return Header{}, nil, errdefs.Invalid("backup state is larger than %d bytes", MaxState)
	}
	state, err := ca.Unseal(key, sealed, statePurpose(line))
	if err != nil {
		return Header{}, nil, errdefs.Invalid("backup is damaged or was altered: %v", err)
	}
	return h, state, nil
}

// readLine reads a line of at most max bytes, without its newline.
func readLine(br *bufio.Reader, max int) (string, error) {
	var b bytes.Buffer
	for {
		c, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", errors.New("truncated")
			}
			return "", err
		}
		if c == '\n' {
			return b.String(), nil
		}
		if b.Len() >= max {
			return "", fmt.Errorf("line longer than %d bytes", max)
		}
		b.WriteByte(c)
	}
}
