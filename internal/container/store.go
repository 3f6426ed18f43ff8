package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Store holds the node's plain containers, each in DIR/ID.json, and the
// names they hold. Its methods are safe for concurrent use; what they
// return and take are copies.
type Store struct {
	dir string

	mu    sync.Mutex
	byID  map[string]*Container // guarded by mu
	names map[string]string     // guarded by mu; name → ID
}

// Open loads the containers kept under dir, creating it when missing. A
// file it cannot read or decode is logged and left out, as dockerd leaves
// out a container it cannot load: one damaged file must not keep the
// daemon, and with it the node, from starting.
func Open(dir string, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create container store: %w", err)
	}
	s := &Store{dir: dir, byID: map[string]*Container{}, names: map[string]string{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read container store: %w", err)
	}
	for _, en := range entries {
		id, ok := strings.CutSuffix(en.Name(), ".json")
		if !ok || en.IsDir() {
			continue
		}
		c, err := load(filepath.Join(dir, en.Name()), id)
		if err != nil {
			log.Error("container left out: its file cannot be loaded", "container.id", id, "err", err)
			continue
		}
		s.byID[id] = c
		s.names[c.Name] = id
	}
	return s, nil
}

// load reads the container kept in path, whose name says it is id's.
func load(path, id string) (*Container, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read container %s: %w", id, err)
	}
	var c Container
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode container %s: %w", id, err)
	}
	if c.ID != id {
		return nil, fmt.Errorf("container file %s holds container %q", filepath.Base(path), c.ID)
	}
	return &c, nil
}

// NameConflict is Docker's error for a name another container holds.
func NameConflict(name, holderID string) error {
	return errdefs.Conflict("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, holderID)
}

// Add stores a new container; its name must be free.
func (s *Store) Add(c *Container) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[c.ID]; ok {
		return errdefs.Conflict("container %s exists already", c.ID)
	}
	if holder, ok := s.names[c.Name]; ok {
		return NameConflict(c.Name, holder)
	}
	cp, err := clone(c)
	if err != nil {
		return err
	}
	if err := s.write(cp); err != nil {
		return err
	}
	s.byID[c.ID] = cp
	s.names[c.Name] = c.ID
	return nil
}

// Get returns the container with the full ID id.
func (s *Store) Get(id string) (*Container, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	cp, err := clone(c)
	if err != nil {
		return nil, false
	}
	return cp, true
}

// Has reports whether id is a plain container of this node.
func (s *Store) Has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byID[id]
	return ok
}

// NameHolder returns the ID of the container named name.
func (s *Store) NameHolder(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.names[name]
	return id, ok
}

// Update changes the container id with fn and stores the result; when fn
// fails, or the new name is taken, nothing changes. It returns the
// container as stored.
func (s *Store) Update(id string, fn func(c *Container) error) (*Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[id]
	if !ok {
		return nil, errdefs.NotFound("No such container: %s", id)
	}
	before, err := json.Marshal(old)
	if err != nil {
		return nil, fmt.Errorf("copy container %s: %w", id, err)
	}
	var c *Container
	if err := json.Unmarshal(before, &c); err != nil {
		return nil, fmt.Errorf("copy container %s: %w", id, err)
	}
	if err := fn(c); err != nil {
		return nil, err
	}
	c.ID = id
	if c.Name != old.Name {
		if holder, ok := s.names[c.Name]; ok {
			return nil, NameConflict(c.Name, holder)
		}
	}
	after, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode container %s: %w", id, err)
	}
	if bytes.Equal(after, before) {
		// Nothing changed (a start clears what is clear already): no
		// file is written, which is a new inode each time.
		return c, nil
	}
	if err := s.writeBytes(id, after); err != nil {
		return nil, err
	}
	delete(s.names, old.Name)
	s.names[c.Name] = id
	s.byID[id] = c
	return clone(c)
}

// Delete removes the container id, freeing its name. Deleting one that is
// not there is not an error.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[id]
	if !ok {
		return nil
	}
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	delete(s.byID, id)
	delete(s.names, c.Name)
	return nil
}

// All returns every container, oldest first.
func (s *Store) All() []*Container {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		if cp, err := clone(c); err == nil {
			out = append(out, cp)
		}
	}
	slices.SortFunc(out, func(a, b *Container) int { return a.Created.Compare(b.Created) })
	return out
}

func (s *Store) path(id string) string { return filepath.Join(s.dir, id+".json") }

// write saves c so that a reader never sees half of it, also when the
// daemon dies while writing.
func (s *Store) write(c *Container) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode container %s: %w", c.ID, err)
	}
	return s.writeBytes(c.ID, b)
}

// writeBytes stores b, a container's JSON, as container id's file.
func (s *Store) writeBytes(id string, b []byte) error {
	tmp := s.path(id) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write container %s: %w", id, err)
	}
	if err := os.Rename(tmp, s.path(id)); err != nil {
		return fmt.Errorf("write container %s: %w", id, err)
	}
	return nil
}

// clone copies c deeply, through its JSON form: that is what is stored.
func clone(c *Container) (*Container, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("copy container %s: %w", c.ID, err)
	}
	var cp Container
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("copy container %s: %w", c.ID, err)
	}
	return &cp, nil
}
