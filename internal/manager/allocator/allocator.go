// Package allocator gives out addresses on the swarm's overlay networks:
// each service its virtual IP on every network it is attached to, each
// new task an address on each of its networks before the scheduler may
// place it, and each node its routing mesh address on the ingress network
// and its address inside the encrypted overlays' tunnel.
//
// Addresses are not kept in a table of their own: what every object holds
// is read from the store (NewPools) in the same transaction that writes
// the new holder, so two writers never give out one address and a new
// leader has nothing to rebuild. The allocator's pass therefore runs
// inside one store update, unlike the other controllers, which decide
// from a snapshot and apply guarded changes.
package allocator

import (
	"context"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/manager/controller"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/store"
)

// MessageAllocated is the status message of a task whose addresses are
// given, waiting for the scheduler (SwarmKit's).
const MessageAllocated = "pending task scheduling"

// MaxTasksPerPass bounds the tasks one pass allocates, so that a huge
// service is allocated over several store updates.
const MaxTasksPerPass = controller.MaxBatch

// Result is what one pass decided: objects to write.
type Result struct {
	Services []*store.Service
	Tasks    []*store.Task
	Nodes    []*store.Node
	// More is set when tasks were left for the next pass.
	More bool
}

// Decide allocates what s lacks: VIPs of services, addresses of new tasks
// (moving them to pending), nodes' ingress and tunnel addresses. A task
// whose network is full stays new with an error naming the network.
func Decide(s State, now time.Time) Result {
	pools := NewPools(s)
	var res Result
	services := map[string]*store.Service{}
	for _, svc := range s.Services {
		vips, err := ServiceVIPs(svc.Spec, svc.Endpoint.VirtualIPs, s.Networks, pools)
		if err == nil && !sameVIPs(vips, svc.Endpoint.VirtualIPs) {
			c := store.Clone(svc)
			c.Endpoint.VirtualIPs = vips
			res.Services = append(res.Services, c)
			svc = c
		}
		services[svc.ID] = svc
	}
	ingress := swarmnet.Ingress(s.Networks)
	for _, n := range s.Nodes {
		if c, changed := AllocateNode(n, ingress, pools); changed {
			res.Nodes = append(res.Nodes, c)
		}
	}
	for _, t := range s.Tasks {
		if !needsAddresses(t) {
			continue
		}
		svc := services[t.ServiceID]
		if svc == nil {
			continue // the orchestrator removes it
		}
		if len(res.Tasks) == MaxTasksPerPass {
			res.More = true
			break
		}
		if c := allocateTask(t, svc, s.Networks, pools, now); c != nil {
			res.Tasks = append(res.Tasks, c)
		}
	}
	return res
}

// needsAddresses reports whether t waits for its addresses: new tasks
// that are meant to run (held replacements included).
func needsAddresses(t *store.Task) bool {
	return t.Status.State == swarm.TaskStateNew &&
		(t.DesiredState == swarm.TaskStateRunning || t.DesiredState == swarm.TaskStateReady)
}

// allocateTask returns t with its attachments and pending, or with an
// error saying which network could not give it an address; nil when
// nothing changes (the same error as before).
func allocateTask(t *store.Task, svc *store.Service, networks []*store.Network, pools *Pools, now time.Time) *store.Task {
	nets, err := TaskNetworks(t.Spec, svc.Spec.EndpointSpec, networks)
	var attachments []swarm.NetworkAttachment
	if err == nil {
		attachments, err = take(nets, pools)
	}
	c := store.Clone(t)
	if err != nil {
		if t.Status.Err == err.Error() {
			return nil
		}
		c.Status = swarm.TaskStatus{Timestamp: now, State: swarm.TaskStateNew, Message: "pending network allocation", Err: err.Error()}
		return c
	}
	c.NetworksAttachments = attachments
	ep := svc.Endpoint
	ep.Spec = swarmnet.EndpointSpec(svc.Spec.EndpointSpec)
	c.Endpoint = &ep
	c.Status = swarm.TaskStatus{Timestamp: now, State: swarm.TaskStatePending, Message: MessageAllocated}
	return c
}

// take gives one address on each network, all or none.
func take(nets []*store.Network, pools *Pools) ([]swarm.NetworkAttachment, error) {
	out := make([]swarm.NetworkAttachment, 0, len(nets))
	for _, n := range nets {
		addr, err := pools.Take(n)
		if err != nil {
			return nil, err
		}
		out = append(out, swarm.NetworkAttachment{Network: n.Network, Addresses: []netip.Prefix{addr}})
	}
	return out, nil
}

// TaskNetworks returns the networks a task of a service is attached to,
// in the order its interfaces get: the ingress network first when the
// service publishes a port in ingress mode (as Docker), then the task
// template's networks. A reference to no network is an error naming it.
func TaskNetworks(spec swarm.TaskSpec, ep *swarm.EndpointSpec, networks []*store.Network) ([]*store.Network, error) {
	var out []*store.Network
	if swarmnet.PublishesIngress(ep) {
		ingress := swarmnet.Ingress(networks)
		if ingress == nil {
			return nil, errdefs.Precondition("service needs ingress network, but no ingress network is present (create one with docker network create --driver overlay --ingress ingress)")
		}
		out = append(out, ingress)
	}
	for _, ref := range spec.Networks {
		n := swarmnet.Resolve(networks, ref.Target)
		if n == nil {
			return nil, errdefs.NotFound("network %s not found", ref.Target)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// ServiceVIPs returns the virtual IPs a service must have: in vip mode,
// one on each network its tasks are attached to, keeping those it has;
// none in dnsrr mode.
func ServiceVIPs(spec swarm.ServiceSpec, current []swarm.EndpointVirtualIP, networks []*store.Network, pools *Pools) ([]swarm.EndpointVirtualIP, error) {
	if swarmnet.EndpointSpec(spec.EndpointSpec).Mode == swarm.ResolutionModeDNSRR {
		return nil, nil
	}
	nets, err := TaskNetworks(spec.TaskTemplate, spec.EndpointSpec, networks)
	if err != nil {
		return current, err
	}
	var out []swarm.EndpointVirtualIP
	for _, n := range nets {
		if !pools.Allocated(n.ID) {
			return current, errdefs.Unavailable("network %s has no subnet yet", n.Spec.Name)
		}
		kept := false
		for _, v := range current {
			if v.NetworkID == n.ID && pools.owns(n.ID, v.Addr.Addr()) {
				out = append(out, v)
				kept = true
				break
			}
		}
		if kept {
			continue
		}
		addr, err := pools.Take(n)
		if err != nil {
			return current, err
		}
		out = append(out, swarm.EndpointVirtualIP{NetworkID: n.ID, Addr: addr})
	}
	return out, nil
}

func sameVIPs(a, b []swarm.EndpointVirtualIP) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// AllocateNode returns n with an address on the ingress network (only
// that one: an attachment to a network that is gone is dropped) and, once
// its agent sent a tunnel key, a tunnel address; changed is false when n
// has them already.
func AllocateNode(n *store.Node, ingress *store.Network, pools *Pools) (c *store.Node, changed bool) {
	var want []swarm.NetworkAttachment
	if ingress != nil && pools.Allocated(ingress.ID) {
		for _, a := range n.NetworkAttachments {
			if a.Network.ID == ingress.ID && len(a.Addresses) == 1 && pools.owns(ingress.ID, a.Addresses[0].Addr()) {
				want = []swarm.NetworkAttachment{{Network: ingress.Network, Addresses: a.Addresses}}
			}
		}
		if want == nil {
			if addr, err := pools.Take(ingress); err == nil {
				want = []swarm.NetworkAttachment{{Network: ingress.Network, Addresses: []netip.Prefix{addr}}}
			}
		}
	}
	tunnel := n.Tunnel
	if tunnel != nil && tunnel.PublicKey != "" && !tunnel.Addr.IsValid() {
		if a, err := pools.tunnel.Take(); err == nil {
			tunnel = &store.Tunnel{PublicKey: tunnel.PublicKey, Addr: a}
		}
	}
	if reflect.DeepEqual(want, n.NetworkAttachments) && tunnel == n.Tunnel {
		return n, false
	}
	c = store.Clone(n)
	c.NetworkAttachments = want
	c.Tunnel = tunnel
	return c, true
}

// NodeAddresses returns n with the ingress and tunnel addresses it lacks
// (AllocateNode), as a transaction about to write it sees the store: the
// dispatcher gives them in the write that makes a node ready, so that the
// allocator has no second write of the node to make. The store's pools
// are read only when n lacks one.
func NodeAddresses(tx store.ReadTx, n *store.Node) *store.Node {
	ingress := swarmnet.Ingress(store.All[*store.Network](tx))
	lacksIngress := ingress != nil && isAllocated(ingress) &&
		!slices.ContainsFunc(n.NetworkAttachments, func(a swarm.NetworkAttachment) bool { return a.Network.ID == ingress.ID })
	lacksTunnel := n.Tunnel != nil && n.Tunnel.PublicKey != "" && !n.Tunnel.Addr.IsValid()
	if !lacksIngress && !lacksTunnel {
		return n
	}
	c, _ := AllocateNode(n, ingress, NewPools(ReadState(tx)))
	return c
}

func isAllocated(n *store.Network) bool {
	_, ok := swarmnet.Allocated(n)
	return ok
}

// New returns the allocator's loop over st.
func New(st *store.Store, logger *slog.Logger) *controller.Loop {
	l := &controller.Loop{Name: "allocator", Store: st, Logger: logger, Wakes: wakes}
	l.Pass = func(ctx context.Context, now time.Time) (time.Time, error) {
		res, err := Allocate(ctx, st, now)
		if err != nil {
			return time.Time{}, err
		}
		if n := len(res.Tasks) + len(res.Services) + len(res.Nodes); n > 0 {
			logger.Debug("pass applied", "controller", "allocator", "tasks", len(res.Tasks), "services", len(res.Services), "nodes", len(res.Nodes))
		}
		if res.More {
			return now, nil
		}
		return time.Time{}, nil
	}
	return l
}

// Allocate runs one pass: it decides and writes in one store update (see
// the package comment).
func Allocate(ctx context.Context, st *store.Store, now time.Time) (Result, error) {
	var res Result
	err := st.Update(ctx, func(tx *store.WriteTx) error {
		res = Decide(ReadState(tx.ReadTx), now)
		return write(tx, res)
	})
	return res, err
}

func write(tx *store.WriteTx, res Result) error {
	for _, s := range res.Services {
		if err := tx.Put(s); err != nil {
			return err
		}
	}
	for _, n := range res.Nodes {
		if err := tx.Put(n); err != nil {
			return err
		}
	}
	for _, t := range res.Tasks {
		if err := tx.Put(t); err != nil {
			return err
		}
	}
	return nil
}

// wakes says which changes can give the allocator work: new tasks,
// services, networks, and nodes (a join, a tunnel key).
func wakes(ev store.Event) bool {
	switch o := ev.Object.(type) {
	case *store.Task:
		return ev.Op != store.OpDelete && needsAddresses(o)
	case *store.Service, *store.Network, *store.Node:
		return true
	}
	return false
}
