// Package volume keeps a node's local volumes, as Docker's local volume
// driver does: a directory per volume under the node's data root
// (ROOT/NAME/_data) with its metadata beside it, kept across restarts of
// the daemon. A volume made with the driver options type, device and o is
// a filesystem (a tmpfs, an NFS export, a bind of a host directory)
// mounted on its data directory when a container first uses it and
// unmounted after the last one stopped. The store knows which containers
// reference a volume, so that a volume in use is not removed.
package volume

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/volume"
	"github.com/shoal-project/shoal/internal/atomicfile"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// AnonymousLabel marks a volume made without a name, as Docker marks
// them; prune removes only those unless asked for all.
const AnonymousLabel = "com.docker.volume.anonymous"

const (
	dataDir     = "_data"       // the volume's content, or where its filesystem is mounted
	metaFile    = "volume.json" // the volume's metadata
	trashPrefix = ".removing-"  // a volume being removed; no volume name starts with a dot
)

// meta is what is kept of a volume on disk.
type meta struct {
	Name      string
	Driver    string
	Labels    map[string]string `json:",omitempty"`
	Options   map[string]string `json:",omitempty"`
	CreatedAt time.Time
	// Active are the containers that have the volume mounted, kept so
	// that a restarted daemon still unmounts it after the last one.
	Active []string `json:",omitempty"`
}

// vol is a volume the store holds.
type vol struct {
	name string // never changes

	// mu is held while the volume is mounted, unmounted, filled or
	// removed, which may take long (an NFS server that does not answer);
	// it is taken before Store.mu, never after.
	mu sync.Mutex

	meta meta            // guarded by Store.mu
	refs map[string]bool // guarded by Store.mu; containers that use the volume
	gone bool            // guarded by Store.mu; removed from the store
}

// EventLogger records what happens to volumes (events.Bus).
type EventLogger interface {
	Log(action events.Action, typ events.Type, actor events.Actor)
}

// Store is a node's local volumes.
type Store struct {
	root   string
	log    *slog.Logger
	mount  mounter
	events EventLogger // nil for none
	idMap  IDMap       // nil for none

	mu   sync.Mutex
	vols map[string]*vol // guarded by mu; by name

	pruning atomic.Bool // set while a prune runs: dockerd allows one at a time
}

// Config configures a Store.
type Config struct {
	Root   string // where volumes are kept, e.g. DATAROOT/volumes; absolute
	Logger *slog.Logger
	// Events, when set, records volumes created and destroyed (docker
	// events).
	Events EventLogger
	// IDMap, when set, is the daemon's user-namespace remapping: a new
	// volume is the remapped root's, and what is copied into one from an
	// image is owned by the host IDs of its owners, as in dockerd.
	IDMap IDMap
	// mount mounts and unmounts volumes' filesystems; the kernel's when
	// nil. Tests give a fake.
	mount mounter
}

// IDMap maps the owner of a file in a container to its owner on the host
// (confine.Remap).
type IDMap interface {
	ToHost(uid, gid int) (int, int, error)
}

// Open opens the volumes under cfg.Root, creating it when missing. A
// directory with a _data directory but no metadata (made by an older
// Shoal) is taken as a local volume without options.
func Open(cfg Config) (*Store, error) {
	if !filepath.IsAbs(cfg.Root) {
		return nil, fmt.Errorf("volume root %q is not an absolute path", cfg.Root)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.mount == nil {
		cfg.mount = kernelMounter{}
	}
	if err := os.MkdirAll(cfg.Root, 0o701); err != nil {
		return nil, fmt.Errorf("create volume root: %w", err)
	}
	s := &Store{root: cfg.Root, log: cfg.Logger, mount: cfg.mount, events: cfg.Events, idMap: cfg.IDMap, vols: map[string]*vol{}}
	entries, err := os.ReadDir(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("read volume root: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), trashPrefix) {
			// Renamed for removal by a daemon that stopped before it was done.
			if err := os.RemoveAll(filepath.Join(cfg.Root, e.Name())); err != nil {
				cfg.Logger.Warn("cannot finish removing a volume", "dir", e.Name(), "err", err)
			}
			continue
		}
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		m, err := s.load(e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.vols[m.Name] = &vol{name: m.Name, meta: m, refs: map[string]bool{}}
	}
	return s, nil
}

// load reads the metadata of the volume in directory name.
func (s *Store) load(name string) (meta, error) {
	b, err := os.ReadFile(filepath.Join(s.root, name, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		st, serr := os.Stat(s.dataPath(name))
		if serr != nil {
			return meta{}, err
		}
		return meta{Name: name, Driver: DriverLocal, CreatedAt: st.ModTime().UTC()}, nil
	}
	if err != nil {
		return meta{}, fmt.Errorf("read volume %s: %w", name, err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return meta{}, fmt.Errorf("read volume %s: %w", name, err)
	}
	if m.Name != name {
		return meta{}, fmt.Errorf("read volume %s: its metadata names %q", name, m.Name)
	}
	return m, nil
}

// save writes m so that a reader never sees half of it.
func (s *Store) save(m meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	p := filepath.Join(s.root, m.Name, metaFile)
	if err := atomicfile.Write(p, b, 0o600); err != nil {
		return fmt.Errorf("write volume %s: %w", m.Name, err)
	}
	return nil
}

// chown gives path to the host IDs of uid and gid under the store's
// IDMap; without one it leaves it as it is.
func (s *Store) chown(path string, uid, gid int) error {
	if s.idMap == nil {
		return nil
	}
	hu, hg, err := s.idMap.ToHost(uid, gid)
	if err != nil {
		return fmt.Errorf("owner of %s: %w", path, err)
	}
	return os.Lchown(path, hu, hg)
}

func (s *Store) dataPath(name string) string { return filepath.Join(s.root, name, dataDir) }

// Root is where the volumes are kept: volume NAME's data directory is
// ROOT/NAME/_data.
func (s *Store) Root() string { return s.root }

// apiVolume is v as the Engine API shows it. Called with s.mu held.
func (s *Store) apiVolume(v *vol) volume.Volume {
	return volume.Volume{
		Name:       v.meta.Name,
		Driver:     v.meta.Driver,
		Mountpoint: s.dataPath(v.meta.Name),
		CreatedAt:  v.meta.CreatedAt.Format(time.RFC3339),
		Labels:     maps.Clone(v.meta.Labels),
		Options:    maps.Clone(v.meta.Options),
		Scope:      "local",
	}
}

// CreateOptions are what a volume is made with.
type CreateOptions struct {
	Driver  string // DriverLocal when empty
	Options map[string]string
	Labels  map[string]string
}

// Create makes the volume name with opts and returns it; an empty name
// makes an anonymous volume with a random name. A volume of that name that
// exists already is returned as it is, whatever opts say, as Docker does.
// Bad input is an errdefs error naming what is wrong, and creates nothing.
func (s *Store) Create(ctx context.Context, name string, opts CreateOptions) (volume.Volume, error) {
	v, err := s.create(name, opts)
	if err != nil {
		return volume.Volume{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiVolume(v), nil
}

func (s *Store) create(name string, opts CreateOptions) (*vol, error) {
	labels := maps.Clone(opts.Labels)
	if name == "" {
		name = randomName()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[AnonymousLabel] = ""
	}
	if err := validateCreate(name, opts); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		return v, nil
	}
	m := meta{
		Name:      name,
		Driver:    cmp.Or(opts.Driver, DriverLocal),
		Labels:    labels,
		Options:   maps.Clone(opts.Options),
		CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	dir := filepath.Join(s.root, name)
	if err := os.Mkdir(dir, 0o701); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	err := os.MkdirAll(s.dataPath(name), 0o755)
	if err == nil {
		err = s.chown(s.dataPath(name), 0, 0)
	}
	if err == nil {
		err = s.save(m)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	v := &vol{name: name, meta: m, refs: map[string]bool{}}
	s.vols[name] = v
	s.log.Info("volume created", "volume", name, "driver", m.Driver, "options", len(m.Options))
	s.event(events.ActionCreate, name, m.Driver)
	return v, nil
}

func validateCreate(name string, opts CreateOptions) error {
	if err := ValidateDriver(opts.Driver); err != nil {
		return err
	}
	if err := ValidateName(name); err != nil {
		return err
	}
	return ValidateOptions(opts.Options)
}

// randomName is an anonymous volume's name: 64 hex digits, as Docker's.
func randomName() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// noSuchVolume is Docker's error for a volume that does not exist.
func noSuchVolume(name string) error {
	return errdefs.NotFound("get %s: no such volume", name)
}

// Get returns the volume name.
func (s *Store) Get(ctx context.Context, name string) (volume.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return volume.Volume{}, noSuchVolume(name)
	}
	return s.apiVolume(v), nil
}

// Remove removes the volume name and its content. A volume a container
// references is not removed: errdefs.Conflict with Docker's text and the
// containers' IDs. With force, a volume that does not exist is no error.
func (s *Store) Remove(ctx context.Context, name string, force bool) error {
	s.mu.Lock()
	v, ok := s.vols[name]
	s.mu.Unlock()
	if !ok {
		if force {
			return nil
		}
		return noSuchVolume(name)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return s.remove(v, force)
}

// remove removes v, whose mu the caller holds.
func (s *Store) remove(v *vol, force bool) error {
	name := v.name
	s.mu.Lock()
	switch {
	case v.gone:
		s.mu.Unlock()
		if force {
			return nil
		}
		return noSuchVolume(name)
	case len(v.refs) > 0:
		refs := slices.Sorted(maps.Keys(v.refs))
		s.mu.Unlock()
		return errdefs.Conflict("remove %s: volume is in use - [%s]", name, strings.Join(refs, ", "))
	}
	opts, driver := v.meta.Options, v.meta.Driver
	s.mu.Unlock()

	// Nothing references it and so nothing can use it while v.mu is held.
	// Its filesystem must be off its data directory before the directory
	// goes: removing it with an NFS export still mounted would empty the
	// export.
	if needsMount(opts) {
		if err := s.mount.unmount(s.dataPath(name)); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	// A rename is atomic: the volume is whole or gone, never half removed.
	trash := filepath.Join(s.root, trashPrefix+name)
	if err := os.Rename(filepath.Join(s.root, name), trash); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	s.mu.Lock()
	v.gone = true
	delete(s.vols, name)
	s.mu.Unlock()
	if err := os.RemoveAll(trash); err != nil {
		s.log.Warn("volume removed, but not all its content", "volume", name, "err", err)
	}
	s.log.Info("volume removed", "volume", name)
	s.event(events.ActionDestroy, name, driver)
	return nil
}

// event logs a volume event as dockerd does: the volume's name as the
// actor, its driver as an attribute.
func (s *Store) event(action events.Action, name, driver string) {
	if s.events == nil {
		return
	}
	s.events.Log(action, events.VolumeEventType, events.Actor{ID: name, Attributes: map[string]string{"driver": driver}})
}
