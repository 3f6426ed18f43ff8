package ipam

import (
	"net/netip"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Swarm's defaults for carving overlay subnets (docker swarm init
// --default-addr-pool, --default-addr-pool-mask-length).
var (
	DefaultAddrPool   = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	DefaultSubnetSize = 24
)

// CarveSubnet returns the first subnet of size bits, in the order of
// pools, that overlaps none of taken. It is how a network without a
// subnet of its own gets one.
func CarveSubnet(pools []netip.Prefix, size int, taken []netip.Prefix) (netip.Prefix, error) {
	if size < 1 || size > 30 {
		return netip.Prefix{}, errdefs.Invalid("subnet size /%d is out of range (1-30)", size)
	}
	for _, pool := range pools {
		pool = pool.Masked()
		if !pool.Addr().Is4() || pool.Bits() > size {
			continue
		}
		step := uint32(1) << (32 - size)
		start := u32(pool.Addr())
		count := uint64(1) << (size - pool.Bits())
	candidates:
		for i := uint64(0); i < count; i++ {
			cand := netip.PrefixFrom(addr(start+uint32(i)*step), size)
			for _, t := range taken {
				if cand.Overlaps(t) {
					// Jump past t when it is the larger one: a /16 taken
					// from a pool of /24s would otherwise be tested 256
					// times.
					if t.Bits() < size {
						end := u32(t.Masked().Addr()) + (uint32(1) << (32 - t.Bits())) - 1
						i = uint64((end - start) / step)
					}
					continue candidates
				}
			}
			return cand, nil
		}
	}
	return netip.Prefix{}, errdefs.Unavailable("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network (pools %v, subnet size /%d)", pools, size)
}

// Pool hands out the free addresses of one subnet, lowest first, skipping
// the network and broadcast addresses and every address marked used. It
// remembers where it stopped, so that a pass allocating many addresses
// scans the subnet once.
type Pool struct {
	subnet netip.Prefix
	within netip.Prefix // the --ip-range addresses are taken from
	used   map[netip.Addr]bool
	next   netip.Addr
}

// NewPool returns the pool of subnet. within, when valid, restricts the
// addresses handed out (a network's --ip-range); it must lie inside subnet.
func NewPool(subnet, within netip.Prefix) *Pool {
	subnet = subnet.Masked()
	if !within.IsValid() {
		within = subnet
	}
	within = within.Masked()
	return &Pool{subnet: subnet, within: within, used: map[netip.Addr]bool{}, next: within.Addr()}
}

// Subnet returns the pool's subnet.
func (p *Pool) Subnet() netip.Prefix { return p.subnet }

// Use marks a as held. Addresses outside the subnet are ignored, so a
// caller may mark whatever an object holds without checking.
func (p *Pool) Use(a netip.Addr) {
	if p.subnet.Contains(a) {
		p.used[a] = true
	}
}

// Used reports whether a is held.
func (p *Pool) Used(a netip.Addr) bool { return p.used[a] }

// Take returns the lowest free address at or after where the last Take
// stopped, and marks it used.
func (p *Pool) Take() (netip.Addr, error) {
	for a := p.next; p.within.Contains(a); a = a.Next() {
		if a == p.subnet.Addr() || !p.subnet.Contains(a.Next()) || p.used[a] {
			continue
		}
		p.used[a] = true
		p.next = a.Next()
		return a, nil
	}
	return netip.Addr{}, errdefs.Unavailable("no available IPv4 addresses in %s", p.within)
}

// Prefix returns a with the pool's prefix length, as attachments
// record addresses ("10.0.1.5/24").
func (p *Pool) Prefix(a netip.Addr) netip.Prefix {
	return netip.PrefixFrom(a, p.subnet.Bits())
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
