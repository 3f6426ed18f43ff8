package localnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Store keeps the node's local networks, one JSON file each in a
// directory, written whole through a rename so a crash leaves the old
// file or the new. It is safe for concurrent use; what it returns are
// copies.
type Store struct {
	dir string

	mu   sync.Mutex
	nets map[string]*Network // by ID; guarded by mu
}

// Open loads the networks kept in dir, making dir if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, nets: map[string]*Network{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var n Network
		if err := json.Unmarshal(data, &n); err != nil {
			return nil, fmt.Errorf("read network %s: %w", e.Name(), err)
		}
		if n.Endpoints == nil {
			n.Endpoints = map[string]*Endpoint{}
		}
		s.nets[n.ID] = &n
	}
	return s, nil
}

// All returns every network, sorted by name.
func (s *Store) All() []*Network {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Network, 0, len(s.nets))
	for _, n := range s.nets {
		out = append(out, n.Clone())
	}
	slices.SortFunc(out, func(a, b *Network) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Find resolves ref as dockerd resolves a network: a full ID, a full
// name, then a unique ID prefix. ok is false when none matches.
func (s *Store) Find(ref string) (*Network, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nets[ref]; ok {
		return n.Clone(), true, nil
	}
	for _, n := range s.nets {
		if n.Name == ref {
			return n.Clone(), true, nil
		}
	}
	var found []*Network
	for id, n := range s.nets {
		if ref != "" && strings.HasPrefix(id, ref) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, false, nil
	case 1:
		return found[0].Clone(), true, nil
	}
	return nil, false, errdefs.Invalid("network %s is ambiguous (%d matches found based on ID prefix)", ref, len(found))
}

// Put writes n, new or changed.
func (s *Store) Put(n *Network) error {
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, n.ID+".json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	s.mu.Lock()
	s.nets[n.ID] = n.Clone()
	s.mu.Unlock()
	return nil
}

// Delete forgets network id; one that is not there is no error.
func (s *Store) Delete(id string) error {
	if err := os.Remove(filepath.Join(s.dir, id+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.mu.Lock()
	delete(s.nets, id)
	s.mu.Unlock()
	return nil
}
