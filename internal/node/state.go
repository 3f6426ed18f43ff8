package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-project/shoal/internal/atomicfile"
)

// membership is what a node remembers of its swarm across restarts. The
// cluster's state itself lives in raft; this is only how to get back in.
type membership struct {
	NodeID        string
	ClusterID     string
	Role          string // "manager" or "worker"
	ListenAddr    string // host:port the cluster port listens on
	AdvertiseAddr string // host:port other nodes reach this one at
	DataPathAddr  string `json:",omitempty"`
	// Managers are the cluster addresses of managers this node knows, for
	// its agent to reach one when another is gone.
	Managers []string
}

const membershipFile = "state.json"

func loadMembership(dir string) (*membership, error) {
	data, err := os.ReadFile(filepath.Join(dir, membershipFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m membership
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read swarm state %s: %w", filepath.Join(dir, membershipFile), err)
	}
	return &m, nil
}

func saveMembership(dir string, m *membership) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, membershipFile), data, 0o600)
}
