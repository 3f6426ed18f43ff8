// Package shimgroup decides which containers share one containerd runc
// shim. containerd-shim-runc-v2 (1.6 and later) serves every container
// whose spec carries the same Annotation value from one process: a
// container that joins a running shim saves that shim's start (a Go
// process, its ttrpc server, its OOM watcher). dockerd gives every
// container a shim of its own; the price of sharing is that a shim that
// dies takes its group's containers with it, so a group is bounded.
//
// The rules, and why:
//   - A group takes at most Size containers (Pool.Assign), then a new one
//     is opened; containers of different keys (runtime, user namespace)
//     never share one, as the shim's options are given by its first.
//   - A container joins its group's shim only while no task of the group
//     has been deleted and no create of one failed (Pool.Join): the shim
//     exits when its last task goes, and a container joining it then
//     would find it going away under its create. A delete closes the
//     group (Pool.Close) and waits for the join in flight, whose create
//     then keeps the shim alive; the creates of a group run one at a
//     time (the shim runs them one at a time anyway), so a create that
//     fails closes the group before another can join. A container of a
//     closed group, or of a group an earlier daemon made (after a restart
//     nothing is known of it), starts a shim of its own: its start drops
//     the annotation from its spec.
package shimgroup

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// Annotation is the spec annotation containerd's runc shim groups by.
const Annotation = "io.containerd.runc.v2.group"

// Pool hands out and tracks a daemon's shim groups. A nil Pool, or one
// of Size 1 or less, groups nothing: every container its own shim.
type Pool struct {
	size    int
	newName func() string

	mu     sync.Mutex
	open   map[string]*filling // by key: the group being filled; guarded by mu
	groups map[string]*group   // by name: the groups not closed yet; guarded by mu
}

type filling struct {
	name     string
	assigned int
}

type group struct {
	// joins is held by a start joining the group's shim until its task
	// create returned, and by Close.
	joins  sync.Mutex
	closed bool // guarded by joins
}

// New returns a Pool of groups of at most size containers; size 1 or less
// turns grouping off.
func New(size int) *Pool {
	return newPool(size, randomName)
}

func newPool(size int, newName func() string) *Pool {
	return &Pool{size: size, newName: newName, open: map[string]*filling{}, groups: map[string]*group{}}
}

// Size is the most containers a group takes; 1 when grouping is off.
func (p *Pool) Size() int {
	if p == nil || p.size < 1 {
		return 1
	}
	return p.size
}

// Assign returns the group a new container of key is made in (its spec's
// Annotation), or "" when grouping is off: the group of key being filled,
// or a new one when that is full.
func (p *Pool) Assign(key string) string {
	if p.Size() <= 1 {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.open[key]
	if f == nil || f.assigned >= p.size {
		f = &filling{name: p.newName()}
		p.open[key] = f
		p.groups[f.name] = &group{}
	}
	f.assigned++
	return f.name
}

// Join is called before a container of group name creates its task. ok
// says whether the task may join the group's shim; then done must be
// called once the create returned, with whether it made the task. When
// !ok the container must start without the group (a shim of its own);
// done is a no-op.
func (p *Pool) Join(name string) (done func(created bool), ok bool) {
	g := p.lookup(name)
	if g == nil {
		return func(bool) {}, false
	}
	g.joins.Lock()
	if g.closed {
		g.joins.Unlock()
		return func(bool) {}, false
	}
	return func(created bool) {
		if !created {
			// containerd deletes a task whose create failed, and the
			// shim may exit with it.
			p.close(name, g)
		}
		g.joins.Unlock()
	}, true
}

// Close is called before a task of a container of group name is deleted:
// no container joins the group's shim after it, and it returns once the
// join in flight has its task.
func (p *Pool) Close(name string) {
	g := p.lookup(name)
	if g == nil {
		return
	}
	g.joins.Lock()
	p.close(name, g)
	g.joins.Unlock()
}

// close closes g, named name; g.joins is held.
func (p *Pool) close(name string, g *group) {
	g.closed = true
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.groups, name) // a group not known is closed
	for key, f := range p.open {
		if f.name == name {
			delete(p.open, key)
		}
	}
}

func (p *Pool) lookup(name string) *group {
	if p == nil || name == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.groups[name]
}

// randomName is a group name unique for the life of a containerd
// namespace: the shim's socket is named after it.
func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "shoal-" + hex.EncodeToString(b)
}
