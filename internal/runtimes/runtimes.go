// Package runtimes is a daemon's OCI runtimes, as dockerd has them: the
// names that --default-runtime, --add-runtime and a container's
// HostConfig.Runtime use, and what containerd is told for each. Every
// runtime here speaks runc's command line (runc itself, crun), so every
// container runs under containerd's runc shim, and a runtime other than
// runc is the shim's BinaryName option, as dockerd runs them.
package runtimes

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/moby/moby/api/types/system"

	"github.com/shoal-project/shoal/internal/errdefs"
)

const (
	// Runc is the runtime containers get unless told otherwise.
	Runc = "runc"
	// Shim is containerd's runc shim, which runs every container; dockerd
	// lists its name as a runtime too, the same as runc.
	Shim = "io.containerd.runc.v2"
	// Crun is the runtime known without --add-runtime when its executable
	// is on PATH.
	Crun = "crun"
)

// reserved are the names --add-runtime cannot take, as dockerd refuses
// them: they mean runc, or containerd's runtimes.
var reserved = []string{Runc, Shim, "io.containerd.runc.v1", "io.containerd.runtime.v1.linux"}

// Runtime is one runtime a daemon knows.
type Runtime struct {
	Name string
	// Path is how the daemon shows it (docker info): the path given to
	// --add-runtime, or "runc" for runc, which the shim finds on PATH.
	Path string
	// Binary is the executable the shim runs: empty for runc (the shim's
	// own default), else Path as found on PATH.
	Binary string
}

// Set is a daemon's runtimes and its default.
type Set struct {
	byName map[string]Runtime
	def    string
}

// RuncOnly is the set of a daemon given no runtime flags and no crun: runc
// under its two names.
func RuncOnly() *Set {
	s := &Set{byName: map[string]Runtime{}, def: Runc}
	for _, n := range []string{Runc, Shim} {
		s.byName[n] = Runtime{Name: n, Path: Runc}
	}
	return s
}

// New decides a daemon's runtimes: runc, crun when lookPath finds it, and
// each of added (the values of --add-runtime, NAME=PATH), which may
// replace crun; def is --default-runtime, runc when empty. lookPath finds
// an executable as exec.LookPath does; an added runtime it does not find
// stops the daemon rather than every container later.
func New(def string, added []string, lookPath func(string) (string, error)) (*Set, error) {
	s := RuncOnly()
	if p, err := lookPath(Crun); err == nil {
		s.byName[Crun] = Runtime{Name: Crun, Path: p, Binary: p}
	}
	seen := map[string]bool{}
	for _, a := range added {
		name, path, ok := strings.Cut(a, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("--add-runtime %q: want NAME=PATH", a)
		}
		if slices.Contains(reserved, name) {
			return nil, fmt.Errorf("--add-runtime %q: runtime name %q is reserved", a, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("--add-runtime %q: runtime %q is given twice", a, name)
		}
		seen[name] = true
		bin, err := lookPath(path)
		if err != nil {
			return nil, fmt.Errorf("--add-runtime %q: %w", a, err)
		}
		s.byName[name] = Runtime{Name: name, Path: path, Binary: bin}
	}
	if def != "" {
		if _, ok := s.byName[def]; !ok {
			return nil, fmt.Errorf("--default-runtime %q: no such runtime: %s", def, s.names())
		}
		s.def = def
	}
	return s, nil
}

// Default is the name of the runtime containers get when they name none,
// which swarm tasks always get.
func (s *Set) Default() string { return s.def }

// Resolve returns the runtime a container names in HostConfig.Runtime,
// the default when it names none; an unknown name is invalid input.
func (s *Set) Resolve(name string) (Runtime, error) {
	if name == "" {
		name = s.def
	}
	r, ok := s.byName[name]
	if !ok {
		return Runtime{}, errdefs.Invalid("HostConfig.Runtime: unknown runtime specified %q: this daemon has %s", name, s.names())
	}
	return r, nil
}

// Info is the runtimes as docker info shows them (Runtimes).
func (s *Set) Info() map[string]system.RuntimeWithStatus {
	m := make(map[string]system.RuntimeWithStatus, len(s.byName))
	for n, r := range s.byName {
		m[n] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: r.Path}}
	}
	return m
}

func (s *Set) names() string {
	var q []string
	for _, n := range slices.Sorted(maps.Keys(s.byName)) {
		q = append(q, fmt.Sprintf("%q", n))
	}
	return strings.Join(q, ", ")
}

// oldSpecVersion is the ociVersion a spec for a runtime other than runc
// says: crun before 1.15 (Debian 12 has 1.8.1) refuses a spec whose
// version does not contain "1.0", and containerd writes its own, 1.3.0.
// The version is a label both runtimes otherwise ignore; dockerd 20.10
// writes 1.0.2-dev for every runtime.
const oldSpecVersion = "1.0.2"

// SpecVersion is the ociVersion a container's spec must say for r to run
// it: empty for runc, which takes containerd's own.
func SpecVersion(r Runtime) string {
	if r.Binary == "" {
		return ""
	}
	return oldSpecVersion
}

// ShimOptions are the runc shim's options a container of r is created
// with: nil for runc, which keeps containerd's defaults as they were
// before runtimes could be chosen, else BinaryName.
func ShimOptions(r Runtime) *options.Options {
	if r.Binary == "" {
		return nil
	}
	return &options.Options{BinaryName: r.Binary}
}
