package confine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Profile is a seccomp profile in Docker's JSON format: the OCI fields,
// plus an architecture map and rules that apply only with some
// capabilities or on some architectures.
type Profile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet,omitempty"`
	Architectures    []specs.Arch             `json:"architectures,omitempty"`
	ArchMap          []ArchMap                `json:"archMap,omitempty"`
	Flags            []specs.LinuxSeccompFlag `json:"flags,omitempty"`
	ListenerPath     string                   `json:"listenerPath,omitempty"`
	ListenerMetadata string                   `json:"listenerMetadata,omitempty"`
	Syscalls         []Syscall                `json:"syscalls"`
}

// ArchMap is an architecture and the sub-architectures a profile also
// covers when the node runs it.
type ArchMap struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

// Syscall is a rule of a Docker profile.
type Syscall struct {
	Name     string                   `json:"name,omitempty"`
	Names    []string                 `json:"names,omitempty"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet,omitempty"`
	Args     []specs.LinuxSeccompArg  `json:"args,omitempty"`
	Comment  string                   `json:"comment,omitempty"`
	Includes *Filter                  `json:"includes,omitempty"`
	Excludes *Filter                  `json:"excludes,omitempty"`
}

// Filter says when a rule applies: with all of Caps, on one of Arches.
// MinKernel is accepted and not checked: the rule applies on any kernel.
type Filter struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// DecodeProfile reads a profile in Docker's format (an OCI profile is
// one), refusing unknown fields and what dockerd refuses.
func DecodeProfile(data []byte) (*Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decoding seccomp profile failed: %w", err)
	}
	if p.DefaultAction == "" {
		return nil, errors.New("the seccomp profile has no defaultAction")
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return nil, errors.New("the seccomp profile has both architectures and archMap: use one")
	}
	for i, s := range p.Syscalls {
		switch {
		case s.Name != "" && len(s.Names) > 0:
			return nil, fmt.Errorf("syscalls[%d] has both name and names: use one", i)
		case s.Name == "" && len(s.Names) == 0:
			return nil, fmt.Errorf("syscalls[%d] names no system call", i)
		case s.Action == "":
			return nil, fmt.Errorf("syscalls[%d] has no action", i)
		}
	}
	return &p, nil
}

// seccompArch is the seccomp name of each Go architecture.
var seccompArch = map[string]specs.Arch{
	"386":      specs.ArchX86,
	"amd64":    specs.ArchX86_64,
	"arm":      specs.ArchARM,
	"arm64":    specs.ArchAARCH64,
	"mips64":   specs.ArchMIPS64,
	"mips64le": specs.ArchMIPSEL64,
	"ppc64":    specs.ArchPPC64,
	"ppc64le":  specs.ArchPPC64LE,
	"riscv64":  specs.ArchRISCV64,
	"s390x":    specs.ArchS390X,
}

// OCI is the profile as the runtime takes it for a container with caps
// on a node of Go architecture goarch: the architecture map narrowed to
// the node's, and only the rules whose conditions hold.
func (p *Profile) OCI(caps []string, goarch string) *specs.LinuxSeccomp {
	arch := seccompArch[goarch]
	out := &specs.LinuxSeccomp{
		DefaultAction:    p.DefaultAction,
		DefaultErrnoRet:  p.DefaultErrnoRet,
		Architectures:    p.Architectures,
		Flags:            p.Flags,
		ListenerPath:     p.ListenerPath,
		ListenerMetadata: p.ListenerMetadata,
	}
	for _, m := range p.ArchMap {
		if m.Arch == arch {
			out.Architectures = append(append(out.Architectures, m.Arch), m.SubArches...)
		}
	}
	for _, s := range p.Syscalls {
		if !s.applies(caps, goarch) {
			continue
		}
		names := s.Names
		if s.Name != "" {
			names = []string{s.Name}
		}
		out.Syscalls = append(out.Syscalls, specs.LinuxSyscall{
			Names:    names,
			Action:   s.Action,
			ErrnoRet: s.ErrnoRet,
			Args:     s.Args,
		})
	}
	return out
}

// applies says whether a rule holds for a container with caps on goarch,
// as dockerd reads includes and excludes.
func (s Syscall) applies(caps []string, goarch string) bool {
	if f := s.Excludes; f != nil {
		if slices.Contains(f.Arches, goarch) {
			return false
		}
		for _, c := range f.Caps {
			if slices.Contains(caps, NormalizeCapability(c)) {
				return false
			}
		}
	}
	if f := s.Includes; f != nil {
		if len(f.Arches) > 0 && !slices.Contains(f.Arches, goarch) {
			return false
		}
		for _, c := range f.Caps {
			if !slices.Contains(caps, NormalizeCapability(c)) {
				return false
			}
		}
	}
	return true
}
