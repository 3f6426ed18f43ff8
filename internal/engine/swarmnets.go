package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/network/dataplane"
	"github.com/shoal-project/shoal/internal/network/localnet"
	"github.com/shoal-project/shoal/internal/network/resolver"
	"github.com/shoal-project/shoal/internal/network/swarmnet"
	"github.com/shoal-project/shoal/internal/network/view"
	"github.com/shoal-project/shoal/internal/store"
)

// Swarm is the node's link to the swarm's managers for plain containers
// on attachable overlay networks: the node, while it is in a swarm.
type Swarm interface {
	AttachNetwork(ctx context.Context, req swarmnet.AttachRequest) (*store.Task, error)
	DetachNetwork(ctx context.Context, taskID string) error
	PruneAttachments(ctx context.Context, containers []string) (int, error)
}

// attachTimeout bounds the wait for the managers' answer to an
// attachment (or for a session with them, after a restart).
const attachTimeout = 20 * time.Second

// swarmEndpoint is a plain container's place on an attachable overlay
// network. It holds an attachment task (and its address) while the
// container exists and is not stopped; TaskID is empty in between.
type swarmEndpoint struct {
	NetworkID   string
	NetworkName string
	Aliases     []string   `json:",omitempty"`
	IP          netip.Addr `json:",omitempty"` // asked for (--ip)
	Ifname      string
	TaskID      string        `json:",omitempty"`
	Network     swarm.Network `json:",omitempty"`
	Addr        netip.Prefix  `json:",omitempty"`
}

// swarmNets runs plain containers' interfaces on attachable overlays:
// attachments asked of the managers, interfaces made by the dataplane
// as for tasks, names answered by the same resolver. What each container
// has is kept in one file, so a restarted daemon plugs it again.
type swarmNets struct {
	path     string
	dp       *dataplane.Dataplane
	netns    func(id string) string
	resolver *resolver.Manager
	log      *slog.Logger

	// mu guards swarm and eps, and serializes the changes to them.
	mu    sync.Mutex
	swarm Swarm                      // nil outside a swarm
	eps   map[string][]swarmEndpoint // by container ID, in interface order
}

func openSwarmNets(path string, dp *dataplane.Dataplane, netns func(string) string, dns *resolver.Manager, log *slog.Logger) (*swarmNets, error) {
	s := &swarmNets{path: path, dp: dp, netns: netns, resolver: dns, log: log.With("component", "swarmnets"), eps: map[string][]swarmEndpoint{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(data, &s.eps); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return s, nil
}

// save writes eps. The caller holds mu.
func (s *swarmNets) save() error {
	data, err := json.Marshal(s.eps)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

// enabled reports whether the node is in a swarm, where a network this
// node does not have may be an attachable overlay.
func (s *swarmNets) enabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.swarm != nil
}

// take asks the managers for an attachment of container id to ep's
// network and fills in ep. The caller holds mu.
func (s *swarmNets) take(ctx context.Context, id, name, ref string, ep *swarmEndpoint) error {
	if s.swarm == nil {
		return errdefs.NotFound("network %s not found", ref)
	}
	ctx, cancel := context.WithTimeout(ctx, attachTimeout)
	defer cancel()
	t, err := s.swarm.AttachNetwork(ctx, swarmnet.AttachRequest{Network: ref, ContainerID: id, ContainerName: name, Aliases: ep.Aliases, Addr: ep.IP})
	if err != nil {
		if errdefs.Is(err, errdefs.KindForbidden) {
			return errdefs.Forbidden("Could not attach to network %s: %v", ref, err)
		}
		return err
	}
	if len(t.NetworksAttachments) != 1 || len(t.NetworksAttachments[0].Addresses) == 0 {
		s.giveBack(ctx, t.ID)
		return fmt.Errorf("attachment %s to network %s has no address", t.ID, ref)
	}
	at := t.NetworksAttachments[0]
	ep.TaskID, ep.Network, ep.Addr = t.ID, at.Network, at.Addresses[0]
	ep.NetworkID, ep.NetworkName = at.Network.ID, at.Network.Spec.Name
	return nil
}

// giveBack removes an attachment task; the caller holds mu. One the
// managers could not be told of goes when the node next starts
// (PruneAttachments) or its container is removed.
func (s *swarmNets) giveBack(ctx context.Context, taskID string) error {
	if s.swarm == nil {
		return nil // the node left the swarm: its attachments went with it
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attachTimeout)
	defer cancel()
	if err := s.swarm.DetachNetwork(ctx, taskID); err != nil {
		s.log.Warn("give back a network attachment", "task.id", taskID, "err", err)
		return err
	}
	return nil
}

// endpointFor builds the endpoint a request asks for from its settings.
func endpointFor(st *network.EndpointSettings, ifname string) (swarmEndpoint, error) {
	ep := swarmEndpoint{Ifname: ifname}
	if st == nil {
		return ep, nil
	}
	if st.IPAMConfig != nil {
		if st.IPAMConfig.IPv6Address.IsValid() {
			return ep, errdefs.Invalid("IPAMConfig.IPv6Address: IPv6 is not supported on this node")
		}
		ep.IP = st.IPAMConfig.IPv4Address
	}
	if err := localnet.CheckAliases(st.Aliases); err != nil {
		return ep, err
	}
	ep.Aliases = slices.Clone(st.Aliases)
	return ep, nil
}

// reserve attaches container id to network ref (create, before its
// namespace exists, so that its hosts file has the address) and records
// it; ifname names its interface there. It returns the address. On
// failure nothing is left.
func (s *swarmNets) reserve(ctx context.Context, id, name, ref string, st *network.EndpointSettings, ifname string) (swarmEndpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, err := endpointFor(st, ifname)
	if err != nil {
		return ep, err
	}
	if err := s.take(ctx, id, name, ref, &ep); err != nil {
		return ep, err
	}
	if slices.ContainsFunc(s.eps[id], func(e swarmEndpoint) bool { return e.NetworkID == ep.NetworkID }) {
		// The managers gave back the attachment it holds.
		return ep, errdefs.Forbidden("endpoint with name %s already exists in network %s", name, ep.NetworkName)
	}
	s.eps[id] = append(s.eps[id], ep)
	if err := s.save(); err != nil {
		s.forget(ctx, id, ep.TaskID)
		return ep, err
	}
	return ep, nil
}

// forget drops one endpoint of container id and gives its attachment
// back. The caller holds mu.
func (s *swarmNets) forget(ctx context.Context, id, taskID string) {
	s.eps[id] = slices.DeleteFunc(s.eps[id], func(e swarmEndpoint) bool { return e.TaskID == taskID })
	if len(s.eps[id]) == 0 {
		delete(s.eps, id)
	}
	if err := s.save(); err != nil {
		s.log.Warn("forget a network attachment", "container.id", id, "err", err)
	}
	s.giveBack(ctx, taskID)
}

// plug gives container id its interfaces on the networks it holds
// attachments on (plugLocked).
func (s *swarmNets) plug(ctx context.Context, id string, host *containertypes.HostConfig, localNets []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.plugLocked(ctx, id, host, localNets)
}

// connect attaches container id, whose namespace exists, to network ref
// and plugs it (docker network connect). On failure nothing is left.
func (s *swarmNets) connect(ctx context.Context, id, name, ref string, st *network.EndpointSettings, ifname string, host *containertypes.HostConfig, localNets []string) error {
	ep, err := s.reserve(ctx, id, name, ref, st, ifname)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.plugLocked(ctx, id, host, localNets); err != nil {
		s.forget(ctx, id, ep.TaskID)
		if perr := s.plugLocked(context.WithoutCancel(ctx), id, host, localNets); perr != nil {
			s.log.Warn("unplug an attachment that could not be plugged", "container.id", id, "err", perr)
		}
		return err
	}
	return nil
}

// plugLocked gives container id's namespace its interfaces on the
// networks it holds attachments on, and its DNS server the names of
// those and of its local networks (localNets), as resolverNets decides.
// The caller holds mu.
func (s *swarmNets) plugLocked(ctx context.Context, id string, host *containertypes.HostConfig, localNets []string) error {
	var eps []dataplane.PlainEndpoint
	for _, e := range s.eps[id] {
		if e.TaskID != "" {
			eps = append(eps, dataplane.PlainEndpoint{TaskID: e.TaskID, Network: e.Network, Addr: e.Addr, Ifname: e.Ifname})
		}
	}
	nsPath := s.netns(id)
	if err := s.dp.PlugContainer(ctx, id, nsPath, eps); err != nil {
		return err
	}
	nets, run := resolverNets(host.NetworkMode, localNets, s.heldNets(id))
	if !run {
		s.resolver.Stop(id)
		return nil
	}
	return s.resolver.Start(ctx, id, nsPath, nets, resolver.WithDNSConfig(dnsConfig(host)))
}

// heldNets are the swarm networks container id holds attachments on, in
// interface order. The caller holds mu.
func (s *swarmNets) heldNets(id string) []string {
	var out []string
	for _, e := range s.eps[id] {
		if e.TaskID != "" {
			out = append(out, e.NetworkID)
		}
	}
	return out
}

// resolverNets are the swarm networks container id's DNS server answers
// from (heldNets), for its local networks' side.
func (s *swarmNets) resolverNets(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heldNets(id)
}

// disconnect takes container id off network ref and gives its attachment
// back.
func (s *swarmNets) disconnect(ctx context.Context, id, ref string, host *containertypes.HostConfig, localNets []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.eps[id], func(e swarmEndpoint) bool {
		return e.NetworkName == ref || e.NetworkID == ref || len(ref) >= 12 && strings.HasPrefix(e.NetworkID, ref)
	})
	if i < 0 {
		return errdefs.Forbidden("container %s is not connected to network %s", id, ref)
	}
	ep := s.eps[id][i]
	s.eps[id] = slices.Delete(s.eps[id], i, i+1)
	if len(s.eps[id]) == 0 {
		delete(s.eps, id)
	}
	if err := s.save(); err != nil {
		return err
	}
	err := s.plugLocked(ctx, id, host, localNets)
	if ep.TaskID != "" {
		err = errors.Join(err, s.giveBack(ctx, ep.TaskID))
	}
	return err
}

// has reports whether container id is on swarm network ref.
func (s *swarmNets) has(id, ref string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.eps[id], func(e swarmEndpoint) bool { return e.NetworkName == ref || e.NetworkID == ref })
}

// release gives back container id's attachments, keeping which networks
// it is on: it stopped (dockerd frees a stopped container's addresses).
// remove also forgets them: it is being removed.
func (s *swarmNets) release(ctx context.Context, id string, remove bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	eps, ok := s.eps[id]
	if !ok {
		return nil
	}
	var errs []error
	if err := s.dp.PlugContainer(ctx, id, s.netns(id), nil); err != nil {
		errs = append(errs, err)
	}
	s.resolver.Stop(id)
	for i := range eps {
		if eps[i].TaskID != "" {
			if err := s.giveBack(ctx, eps[i].TaskID); err != nil {
				errs = append(errs, err)
			}
		}
		eps[i].TaskID, eps[i].Addr = "", netip.Prefix{}
	}
	if remove {
		delete(s.eps, id)
	}
	errs = append(errs, s.save())
	return errors.Join(errs...)
}

// acquire takes attachments again for a container that starts after it
// stopped, and plugs it. On failure what it took is given back.
func (s *swarmNets) acquire(ctx context.Context, id, name string, host *containertypes.HostConfig, localNets []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	eps := s.eps[id]
	var took []int
	for i := range eps {
		if eps[i].TaskID != "" {
			continue
		}
		if err := s.take(ctx, id, name, eps[i].NetworkID, &eps[i]); err != nil {
			for _, j := range took {
				s.giveBack(ctx, eps[j].TaskID)
				eps[j].TaskID, eps[j].Addr = "", netip.Prefix{}
			}
			return err
		}
		took = append(took, i)
	}
	if len(took) == 0 {
		return nil
	}
	if err := s.save(); err != nil {
		return err
	}
	return s.plugLocked(ctx, id, host, localNets)
}

// settings are container id's swarm endpoints as inspect shows them.
func (s *swarmNets) settings(id string) map[string]*network.EndpointSettings {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*network.EndpointSettings{}
	for _, e := range s.eps[id] {
		st := &network.EndpointSettings{NetworkID: e.NetworkID, Aliases: slices.Clone(e.Aliases)}
		if e.TaskID != "" {
			st.EndpointID = e.TaskID
			st.IPAddress, st.IPPrefixLen = e.Addr.Addr(), e.Addr.Bits()
			st.MacAddress = network.HardwareAddr(view.MAC(e.Addr.Addr()))
		}
		if e.IP.IsValid() {
			st.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: e.IP}
		}
		out[e.NetworkName] = st
	}
	return out
}

// overlays says, for each swarm network container id is on (holding an
// attachment or not, while stopped), whether it is internal.
func (s *swarmNets) overlays(id string) []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bool
	for _, e := range s.eps[id] {
		out = append(out, e.Network.Spec.Internal)
	}
	return out
}

// ifnames are the interfaces container id has on swarm networks.
func (s *swarmNets) ifnames(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.eps[id] {
		out = append(out, e.Ifname)
	}
	return out
}

// restore plugs the containers that hold attachments again, as a
// starting daemon must, and forgets the containers that are gone.
func (s *swarmNets) restore(ctx context.Context, hosts map[string]*containertypes.HostConfig, localNets func(id string) []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for id := range s.eps {
		host, ok := hosts[id]
		if !ok {
			delete(s.eps, id)
			continue
		}
		if err := s.plugLocked(ctx, id, host, localNets(id)); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", id, err))
		}
	}
	return errors.Join(append(errs, s.save())...)
}

// setSwarm links the node to a swarm (nil when it left one).
func (s *swarmNets) setSwarm(sw Swarm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.swarm = sw
}

// prune has the managers remove this node's attachments of containers
// that hold none here (removed while the daemon was down).
func (s *swarmNets) prune(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.swarm == nil {
		return nil
	}
	var keep []string
	for id, eps := range s.eps {
		if slices.ContainsFunc(eps, func(e swarmEndpoint) bool { return e.TaskID != "" }) {
			keep = append(keep, id)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, attachTimeout)
	defer cancel()
	n, err := s.swarm.PruneAttachments(ctx, keep)
	if n > 0 {
		s.log.Info("removed the network attachments of containers that are gone", "count", n)
	}
	return err
}
