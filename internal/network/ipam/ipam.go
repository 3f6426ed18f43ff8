// Package ipam hands out the addresses of one node-local IPv4 subnet to
// named owners and keeps who holds which in a file, so that a restarted
// daemon neither gives a live address twice nor forgets one.
package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/shoal-project/shoal/internal/atomicfile"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// CheckSubnet reports whether subnet can hold a gateway and at least one
// other host: an IPv4 prefix of at most 30 bits.
func CheckSubnet(subnet netip.Prefix) error {
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return errdefs.Invalid("subnet %s: only IPv4 subnets are supported", subnet)
	}
	if subnet.Bits() > 30 {
		return errdefs.Invalid("subnet %s is too small: it needs room for a gateway and a host (at most /30)", subnet)
	}
	return nil
}

// Gateway returns the subnet's first host address, the one the bridge holds.
func Gateway(subnet netip.Prefix) netip.Addr {
	return subnet.Masked().Addr().Next()
}

// Next returns the lowest address of subnet that may be handed out: neither
// the network address, the gateway, the broadcast address nor one in used.
// Lowest-first keeps addresses dense; reusing a freed one is harmless
// because a container's MAC is derived from its address, so neighbours'
// ARP caches stay right.
func Next(subnet netip.Prefix, used map[netip.Addr]bool) (netip.Addr, error) {
	subnet = subnet.Masked()
	for a := Gateway(subnet).Next(); subnet.Contains(a); a = a.Next() {
		if isBroadcast(subnet, a) {
			break
		}
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, errdefs.Unavailable("no free address left in %s", subnet)
}

func isBroadcast(subnet netip.Prefix, a netip.Addr) bool {
	return !subnet.Contains(a.Next())
}

// Allocator is a persistent map from owner to address over one subnet.
// It is safe for concurrent use.
type Allocator struct {
	path   string
	subnet netip.Prefix

	mu     sync.Mutex
	owners map[string]netip.Addr // guarded by mu; never nil
}

// state is the file's layout.
type state struct {
	Addresses map[string]netip.Addr `json:"addresses"`
}

// Open loads the allocations kept at path (none if the file does not exist
// yet) for subnet. Allocations that do not fit subnet, or that give one
// address twice, are a Conflict: the subnet was changed while containers
// still hold addresses, or the file was edited by hand.
func Open(path string, subnet netip.Prefix) (*Allocator, error) {
	if err := CheckSubnet(subnet); err != nil {
		return nil, err
	}
	subnet = subnet.Masked()
	st := state{Addresses: map[string]netip.Addr{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read address allocations: %w", err)
	default:
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, fmt.Errorf("read address allocations %s: %w", path, err)
		}
		if st.Addresses == nil {
			st.Addresses = map[string]netip.Addr{}
		}
	}
	if err := check(subnet, st.Addresses); err != nil {
		return nil, fmt.Errorf("address allocations %s: %w", path, err)
	}
	return &Allocator{path: path, subnet: subnet, owners: st.Addresses}, nil
}

// check reports allocations that Next could never have made.
func check(subnet netip.Prefix, owners map[string]netip.Addr) error {
	held := make(map[netip.Addr]string, len(owners))
	for owner, a := range owners {
		if !subnet.Contains(a) || a == subnet.Addr() || a == Gateway(subnet) || isBroadcast(subnet, a) {
			return errdefs.Conflict("%s holds %s, which is not a host address of %s", owner, a, subnet)
		}
		if other, ok := held[a]; ok {
			return errdefs.Conflict("%s and %s both hold %s", min(owner, other), max(owner, other), a)
		}
		held[a] = owner
	}
	return nil
}

// Subnet returns the subnet addresses are taken from.
func (a *Allocator) Subnet() netip.Prefix { return a.subnet }

// Lookup returns the address owner holds, if any.
func (a *Allocator) Lookup(owner string) (netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.owners[owner]
	return addr, ok
}

// Allocate returns the address owner holds, taking a free one for it first
// if it holds none. A new allocation is on disk before Allocate returns.
func (a *Allocator) Allocate(owner string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr, ok := a.owners[owner]; ok {
		return addr, nil
	}
	used := make(map[netip.Addr]bool, len(a.owners))
	for _, addr := range a.owners {
		used[addr] = true
	}
	addr, err := Next(a.subnet, used)
	if err != nil {
		return netip.Addr{}, err
	}
	a.owners[owner] = addr
	if err := a.save(); err != nil {
		delete(a.owners, owner)
		return netip.Addr{}, err
	}
	return addr, nil
}

// Release frees owner's address. Releasing an owner that holds none is not
// an error.
func (a *Allocator) Release(owner string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.owners[owner]
	if !ok {
		return nil
	}
	delete(a.owners, owner)
	if err := a.save(); err != nil {
		a.owners[owner] = addr
		return err
	}
	return nil
}

// save writes the allocations to a new file and renames it over the old
// one, so a crash leaves either the old state or the new, never half of one.
// The caller holds mu.
func (a *Allocator) save() error {
	data, err := json.MarshalIndent(state{Addresses: a.owners}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode address allocations: %w", err)
	}
	dir := filepath.Dir(a.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save address allocations: %w", err)
	}
	if err := atomicfile.Write(a.path, data, 0o600); err != nil {
		return fmt.Errorf("save address allocations: %w", err)
	}
	return nil
}
