// Package resolver is the embedded DNS server at 127.0.0.11 in each task's
// network namespace. It answers the names of the services, tasks and
// containers on the networks that task is on, from the node's network view,
// and forwards every other name to the node's own nameservers. A Manager
// runs one server per container; ResolvConf writes the resolv.conf that
// points the container at it.
package resolver

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/network/view"
)

// table is the names of one network: what any container on it can
// resolve there. Immutable once built; containers on the same network
// share it.
type table struct {
	// name is the network's name as given, for PTR answers; key is it in
	// lower case, for NAME.NETWORK lookups.
	name, key string
	internal  bool
	// hosts maps a lower-case name to its addresses. A name present with
	// no addresses is still ours: a dnsrr service with no running task.
	hosts map[string][]netip.Addr
	// ptr maps an address to the name a reverse lookup gives.
	ptr map[netip.Addr]string
	// src is what the table was built from, to tell whether a new view
	// changes it.
	src view.Network
}

// newTable builds the names of network n. Only running endpoints are
// named: a starting task is reachable by address but is no backend yet,
// and answering with it would send clients to a task that may never come
// up.
func newTable(n view.Network) *table {
	t := &table{
		name:     n.Name,
		key:      strings.ToLower(n.Name),
		internal: n.Internal,
		hosts:    map[string][]netip.Addr{},
		ptr:      map[netip.Addr]string{},
		src:      n,
	}
	if n.Ingress {
		// The routing mesh's network is for routing only, as in Docker:
		// every task that publishes a port is on it, so names there
		// would make every such service visible to every other.
		return t
	}
	backends := map[string][]netip.Addr{}
	for _, e := range n.Endpoints {
		if !e.Running || !e.Addr.IsValid() {
			continue
		}
		a := e.Addr.Addr()
		if e.ServiceID != "" {
			backends[e.ServiceID] = append(backends[e.ServiceID], a)
		}
		t.add(e.Name, a)
		for _, alias := range e.Aliases {
			t.add(alias, a)
		}
		if e.Name != "" {
			t.ptr[a] = e.Name
		}
	}
	for _, s := range n.Services {
		// A service in vip mode whose VIP is not allocated yet answers
		// with its tasks, as Docker does for a service without a VIP.
		vip := s.Mode != swarm.ResolutionModeDNSRR && s.VIP.IsValid()
		for _, name := range append([]string{s.Name}, s.Aliases...) {
			if name == "" {
				continue
			}
			t.add("tasks."+name, backends[s.ID]...)
			if vip {
				t.add(name, s.VIP)
			} else {
				t.add(name, backends[s.ID]...)
			}
		}
		if vip && s.Name != "" {
			t.ptr[s.VIP] = s.Name
		}
	}
	return t
}

// add makes name known, with addrs among its addresses. A name given
// twice (a service and a container alias alike) answers with both, as
// Docker merges its records.
func (t *table) add(name string, addrs ...netip.Addr) {
	if name == "" {
		return
	}
	key := strings.ToLower(name)
	have := t.hosts[key]
	for _, a := range addrs {
		if !slices.Contains(have, a) {
			have = append(have, a)
		}
	}
	t.hosts[key] = have
}

// sameNames reports whether networks a and b give the same names, so that
// a new view which only moved peers or changed ports rebuilds nothing.
func sameNames(a, b view.Network) bool {
	return a.Name == b.Name && a.Ingress == b.Ingress && a.Internal == b.Internal &&
		slices.EqualFunc(a.Services, b.Services, func(x, y view.Service) bool {
			return x.ID == y.ID && x.Name == y.Name && x.Mode == y.Mode && x.VIP == y.VIP &&
				slices.Equal(x.Aliases, y.Aliases)
		}) &&
		slices.EqualFunc(a.Endpoints, b.Endpoints, func(x, y view.Endpoint) bool {
			return x.Name == y.Name && x.ServiceID == y.ServiceID && x.Addr == y.Addr &&
				x.Running == y.Running && slices.Equal(x.Aliases, y.Aliases)
		})
}

// records is what one container's server answers from: the tables of the
// networks the container is on, in the order of its attachments. An
// update builds new records and swaps them in whole.
type records struct {
	nets []*table
	// egress is false when every network of the container the view knows
	// is internal, or it knows none: such a container has no way out, and
	// its queries must not leave through the node's nameservers either.
	egress bool
}

// newRecords gives the records of a container on networkIDs, from the
// tables of the view. Networks the view does not have (yet) answer
// nothing.
func newRecords(tables map[string]*table, networkIDs []string) *records {
	r := &records{}
	for _, id := range networkIDs {
		t := tables[id]
		if t == nil || slices.Contains(r.nets, t) {
			continue
		}
		r.nets = append(r.nets, t)
		if !t.internal {
			r.egress = true
		}
	}
	return r
}

// same reports whether r and o answer from the same tables.
func (r *records) same(o *records) bool {
	return o != nil && r.egress == o.egress && slices.Equal(r.nets, o.nets)
}

// lookup gives the addresses of name and whether the name is ours at all
// (a known name may have no address). Names are case-insensitive, with or
// without the trailing dot. As in Docker, NAME.NETWORK is NAME on that
// network alone, and the whole name is tried first on every network: a
// service may have dots in its name.
func (r *records) lookup(name string) ([]netip.Addr, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" {
		return nil, false
	}
	for _, t := range r.nets {
		if a, ok := t.hosts[name]; ok {
			return a, true
		}
	}
	for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
		host, network := name[:i], name[i+1:]
		for _, t := range r.nets {
			if t.key != network {
				continue
			}
			if a, ok := t.hosts[host]; ok {
				return a, true
			}
		}
	}
	return nil, false
}

// reverse gives the name of addr for a PTR answer: NAME.NETWORK, the form
// Docker gives and lookup takes back.
func (r *records) reverse(addr netip.Addr) (string, bool) {
	for _, t := range r.nets {
		if n, ok := t.ptr[addr]; ok {
			return n + "." + t.name + ".", true
		}
	}
	return "", false
}
