package archive

import (
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// kind is what a name in a tree is, as far as resolving paths and
// placing entries care.
type kind uint8

const (
	kindNone    kind = iota // nothing there
	kindDir                 // a directory
	kindSymlink             // a symbolic link, followed in resolving
	kindOther               // a file, a device, anything else
)

// node is what a tree holds at a name.
type node struct {
	kind kind
	link string // of a symlink: its target
}

// tree is the view of a root filesystem that resolving paths and
// deciding an extraction read: the container's root itself (rootTree), or
// that root with an archive's entries laid over it (overlay), so that the
// same decisions that extract an archive can first be made on paper.
type tree interface {
	// lookup says what is at name, a clean name relative to the root
	// ("." for the root), never following a final symlink.
	lookup(name string) (node, error)
}

// rootTree is the tree of a root filesystem as it is.
type rootTree struct{ r *os.Root }

func (t rootTree) lookup(name string) (node, error) {
	fi, err := t.r.Lstat(name)
	if err != nil {
		return node{}, nil // missing, or below a non-directory
	}
	switch {
	case fi.IsDir():
		return node{kind: kindDir}, nil
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := t.r.Readlink(name)
		if err != nil {
			return node{}, errdefs.Invalid("%s: %v", name, err)
		}
		return node{kind: kindSymlink, link: target}, nil
	}
	return node{kind: kindOther}, nil
}

// overlay is a tree as it will be once some entries are extracted into
// it: what the entries make, over what base holds. Its names form a trie
// so that replacing a directory drops all the overlay made below it at
// once.
type overlay struct {
	base tree
	top  onode // the root
}

// onode is a name of an overlay.
type onode struct {
	n     node
	known bool // n is what is there; otherwise base says
	hides bool // it replaced what base had: nothing of base is below it
	kids  map[string]*onode
}

func (o *overlay) lookup(name string) (node, error) {
	cur, hidden := &o.top, false
	if name != "." {
		for _, c := range strings.Split(name, "/") {
			hidden = hidden || cur.hides
			next := cur.kids[c]
			if next == nil {
				if hidden {
					return node{}, nil
				}
				return o.base.lookup(name)
			}
			cur = next
		}
	}
	if cur.known {
		return cur.n, nil
	}
	if hidden {
		return node{}, nil
	}
	return o.base.lookup(name)
}

// set records that name holds n; replaced, whatever was at name and
// below it is gone first.
func (o *overlay) set(name string, n node, replaced bool) {
	cur := &o.top
	for _, c := range strings.Split(name, "/") {
		next := cur.kids[c]
		if next == nil {
			if cur.kids == nil {
				cur.kids = map[string]*onode{}
			}
			next = &onode{}
			cur.kids[c] = next
		}
		cur = next
	}
	if replaced {
		cur.kids, cur.hides = nil, true
	}
	cur.n, cur.known = n, true
}

// mkdirAll records the directories an os.Root.MkdirAll of dir makes.
func (o *overlay) mkdirAll(dir string) error {
	if n, err := o.lookup(dir); err != nil || n.kind == kindDir {
		return err
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := path.Join(parts[:i+1]...)
		n, err := o.lookup(p)
		if err != nil {
			return err
		}
		if n.kind == kindNone {
			o.set(p, node{kind: kindDir}, false)
		}
	}
	return nil
}

// resolved is where a path leads in a tree.
type resolved struct {
	path string // absolute in the container
	// notDir is the first non-directory the path went below ("/a/f" of
	// "a/f/x"), where the kernel would say ENOTDIR; path then goes on
	// lexically.
	notDir string
}

// resolve follows name in t, every symlink followed as the container
// sees it (an absolute one from its root), ".." never above the root.
func resolve(t tree, name string) (resolved, error) {
	var r resolved
	rest := strings.Split(rel(name), "/")
	var done []string
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case ".", "":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := path.Join(append(done, c)...)
		n, err := t.lookup(cur)
		if err != nil {
			return resolved{}, err
		}
		if n.kind != kindSymlink {
			if n.kind == kindOther && r.notDir == "" && goesOn(rest) {
				r.notDir = "/" + cur
			}
			done = append(done, c)
			continue
		}
		if hops++; hops > maxSymlinks {
			return resolved{}, errdefs.Invalid("%s: too many levels of symbolic links", name)
		}
		if path.IsAbs(n.link) {
			done = nil
		}
		rest = append(strings.Split(n.link, "/"), rest...)
	}
	r.path = "/" + path.Join(done...)
	return r, nil
}

// goesOn says whether components still to resolve name something below
// the one just met.
func goesOn(rest []string) bool {
	for _, c := range rest {
		if c != "" && c != "." {
			return true
		}
	}
	return false
}
