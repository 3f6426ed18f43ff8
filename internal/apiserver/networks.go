package apiserver

import (
	"cmp"
	"context"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
)

// Networks: this node's own (the predefined bridge, host and none, and
// the user-defined bridges, from the LocalNetworks backend) and, on a
// manager, the swarm's overlay networks, listed and inspected together as
// dockerd does.

// predefined are the networks every node has and nobody may create,
// remove or prune.
var predefined = map[string]bool{network.NetworkBridge: true, network.NetworkHost: true, network.NetworkNone: true}

// allNetworks returns the local networks and, when this node is a
// manager, the swarm's.
func (s *Server) allNetworks(ctx context.Context, verbose bool) ([]network.Inspect, error) {
	var out []network.Inspect
	if s.cfg.Networks != nil {
		local, err := s.cfg.Networks.LocalNetworks(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, local...)
	}
	if c, err := s.control(); err == nil {
		out = append(out, c.InspectNetworks(ctx, verbose)...)
	} else if w, ok := s.cfg.Networks.(WorkerNetworks); ok {
		out = append(out, w.NodeSwarmNetworks()...)
	}
	s.addContainers(ctx, out)
	return out, nil
}

// addContainers fills each network's Containers with this node's
// containers attached to it.
func (s *Server) addContainers(ctx context.Context, nets []network.Inspect) {
	if s.cfg.Containers == nil {
		return
	}
	cs, err := s.cfg.Containers.List(ctx, false, nil)
	if err != nil {
		return
	}
	byName := map[string]int{}
	for i := range nets {
		byName[nets[i].Name] = i
		if nets[i].Containers == nil {
			nets[i].Containers = map[string]network.EndpointResource{}
		}
	}
	for _, c := range cs {
		if c.NetworkSettings == nil {
			continue
		}
		for name, ep := range c.NetworkSettings.Networks {
			i, ok := byName[name]
			if !ok || ep == nil {
				continue
			}
			res := network.EndpointResource{EndpointID: ep.EndpointID, MacAddress: ep.MacAddress}
			if len(c.Names) > 0 {
				res.Name = strings.TrimPrefix(c.Names[0], "/")
			}
			if ep.IPAddress.IsValid() {
				res.IPv4Address = netip.PrefixFrom(ep.IPAddress, ep.IPPrefixLen)
			}
			nets[i].Containers[c.ID] = res
		}
	}
}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) error {
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	if err := validateNetworkFilters(f); err != nil {
		return err
	}
	nets, err := s.allNetworks(r.Context(), false)
	if err != nil {
		return err
	}
	out := []network.Summary{}
	for _, n := range nets {
		if matchNetwork(f, n) {
			out = append(out, network.Summary{Network: n.Network})
		}
	}
	slices.SortFunc(out, func(a, b network.Summary) int { return cmp.Compare(a.Name, b.Name) })
	return writeJSON(w, http.StatusOK, out)
}

func validateNetworkFilters(f filters.Args) error {
	if err := f.Validate("dangling", "driver", "id", "label", "name", "scope", "type"); err != nil {
		return err
	}
	for _, t := range f.Get("type") {
		if t != "custom" && t != "builtin" {
			return errdefs.Invalid("invalid filter: 'type'='%s'", t)
		}
	}
	for _, d := range f.Get("dangling") {
		if d != "true" && d != "false" && d != "1" && d != "0" {
			return errdefs.Invalid("invalid filter 'dangling=%s'", d)
		}
	}
	for _, sc := range f.Get("scope") {
		if sc != "local" && sc != "swarm" && sc != "global" {
			return errdefs.Invalid("invalid filter: 'scope'='%s'", sc)
		}
	}
	return nil
}

// matchNetwork applies dockerd's network filters: name and id match
// anywhere in the name or ID (name as a regular expression when it is
// one), driver and scope exactly, type custom or builtin, label as other
// label filters, dangling for networks without containers.
func matchNetwork(f filters.Args, n network.Inspect) bool {
	if names := f.Get("name"); len(names) > 0 && !slices.ContainsFunc(names, func(v string) bool { return matchesLoosely(n.Name, v) }) {
		return false
	}
	if ids := f.Get("id"); len(ids) > 0 && !slices.ContainsFunc(ids, func(v string) bool { return strings.Contains(n.ID, v) }) {
		return false
	}
	if ds := f.Get("driver"); len(ds) > 0 && !slices.Contains(ds, n.Driver) {
		return false
	}
	if sc := f.Get("scope"); len(sc) > 0 && !slices.Contains(sc, n.Scope) {
		return false
	}
	builtin := predefined[n.Name] || n.Ingress
	if ts := f.Get("type"); len(ts) > 0 && !slices.Contains(ts, map[bool]string{true: "builtin", false: "custom"}[builtin]) {
		return false
	}
	if !f.Labels("label", n.Labels) {
		return false
	}
	for _, d := range f.Get("dangling") {
		dangling := !builtin && len(n.Containers) == 0
		if (d == "true" || d == "1") != dangling {
			return false
		}
	}
	return true
}

// matchesLoosely is dockerd's name filter: a regular expression match
// when the value is one, a substring match otherwise.
func matchesLoosely(s, pattern string) bool {
	if re, err := regexp.Compile(pattern); err == nil {
		return re.MatchString(s)
	}
	return strings.Contains(s, pattern)
}

// findNetwork resolves a reference among all networks: a full ID, a full
// name, then a unique ID prefix, as dockerd does.
func findNetwork(nets []network.Inspect, ref string) (network.Inspect, error) {
	for _, n := range nets {
		if n.ID == ref {
			return n, nil
		}
	}
	for _, n := range nets {
		if n.Name == ref {
			return n, nil
		}
	}
	var found []network.Inspect
	for _, n := range nets {
		if ref != "" && strings.HasPrefix(n.ID, ref) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return network.Inspect{}, errdefs.NotFound("network %s not found", ref)
	default:
		return network.Inspect{}, errdefs.Invalid("network %s is ambiguous (%d matches found on name)", ref, len(found))
	}
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	verbose := boolValue(r, "verbose")
	switch sc := r.URL.Query().Get("scope"); sc {
	case "", "local", "swarm", "global":
	default:
		return errdefs.Invalid("invalid scope %q: want local, swarm or global", sc)
	}
	nets, err := s.allNetworks(r.Context(), verbose)
	if err != nil {
		return err
	}
	n, err := findNetwork(nets, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sc := r.URL.Query().Get("scope"); sc != "" && sc != n.Scope {
		return errdefs.NotFound("network %s not found", r.PathValue("id"))
	}
	return writeJSON(w, http.StatusOK, n)
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if predefined[req.Name] {
		return errdefs.Forbidden("%s is a pre-defined network and cannot be created", req.Name)
	}
	switch req.Driver {
	case "overlay":
	case "", "bridge":
		return s.localNetworkCreate(w, r, req)
	case "host", "null":
		return errdefs.Forbidden("only one instance of %q network is allowed", req.Driver)
	default:
		return errdefs.NotFound("plugin %q not found", req.Driver)
	}
	c, err := s.control()
	if err != nil {
		return errdefs.Forbidden("Cannot create a multi-host network from a worker node. Please create the network from a manager node.")
	}
	if s.cfg.Networks != nil {
		local, err := s.cfg.Networks.LocalNetworks(r.Context())
		if err != nil {
			return err
		}
		if slices.ContainsFunc(local, func(n network.Inspect) bool { return n.Name == req.Name }) {
			return errdefs.Conflict("network with name %s already exists", req.Name)
		}
	}
	id, err := c.CreateNetwork(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, network.CreateResponse{ID: id})
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("id")
	nets, err := s.allNetworks(r.Context(), false)
	if err != nil {
		return err
	}
	n, err := findNetwork(nets, ref)
	if err != nil {
		return err
	}
	if predefined[n.Name] && n.Scope == "local" {
		return errdefs.Forbidden("%s is a pre-defined network and cannot be removed", n.Name)
	}
	if n.Scope == "local" {
		admin, err := s.localAdmin()
		if err != nil {
			return err
		}
		if err := admin.RemoveNetwork(r.Context(), n.ID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	c, err := s.control()
	if err != nil {
		return err
	}
	if err := c.RemoveNetwork(r.Context(), n.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) error {
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	if err := f.Validate("until", "label", "label!"); err != nil {
		return err
	}
	report := network.PruneReport{NetworksDeleted: []string{}}
	if admin, err := s.localAdmin(); err == nil {
		removed, err := admin.PruneNetworks(r.Context(), f)
		report.NetworksDeleted = append(report.NetworksDeleted, removed...)
		if err != nil {
			return err
		}
	}
	c, err := s.control()
	if err != nil {
		// A node outside the swarm has no swarm networks to prune.
		return writeJSON(w, http.StatusOK, report)
	}
	removed, err := c.PruneNetworks(r.Context(), f)
	if err != nil {
		return err
	}
	report.NetworksDeleted = append(report.NetworksDeleted, removed...)
	return writeJSON(w, http.StatusOK, report)
}

// localAdmin is the backend of the node's user-defined local networks.
func (s *Server) localAdmin() (LocalNetworkAdmin, error) {
	admin, ok := s.cfg.Networks.(LocalNetworkAdmin)
	if !ok {
		return nil, errdefs.Invalid("user-defined local networks are not supported on this node")
	}
	return admin, nil
}

// localNetworkCreate makes a user-defined bridge network on this node.
func (s *Server) localNetworkCreate(w http.ResponseWriter, r *http.Request, req network.CreateRequest) error {
	admin, err := s.localAdmin()
	if err != nil {
		return err
	}
	var names []string
	swarmNets := func() []network.Inspect { return nil }
	if c, err := s.control(); err == nil {
		swarmNets = func() []network.Inspect { return c.InspectNetworks(r.Context(), false) }
	} else if w, ok := s.cfg.Networks.(WorkerNetworks); ok {
		swarmNets = w.NodeSwarmNetworks
	}
	for _, n := range swarmNets() {
		names = append(names, n.Name)
	}
	id, err := admin.CreateNetwork(r.Context(), req, names)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, network.CreateResponse{ID: id, Warning: ""})
}

// networkConnect connects a plain container to a local network or an
// attachable swarm network.
func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) error {
	var req network.ConnectRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Container == "" {
		return errdefs.Invalid("Container: the container to connect is required")
	}
	admin, ref, err := s.localNetworkOf(r)
	if err != nil {
		return err
	}
	if err := admin.ConnectContainer(r.Context(), ref, req.Container, req.EndpointConfig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// networkDisconnect takes a plain container off a local network or an
// attachable swarm network.
func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) error {
	var req network.DisconnectRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Container == "" {
		return errdefs.Invalid("Container: the container to disconnect is required")
	}
	admin, ref, err := s.localNetworkOf(r)
	if err != nil {
		return err
	}
	if err := admin.DisconnectContainer(r.Context(), ref, req.Container); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// localNetworkOf returns the engine that connects containers to the
// request's network, and the reference to give it: a predefined network
// (bridge, host, none) by its name, which the engine decides on as
// dockerd does, any other as the request names it.
func (s *Server) localNetworkOf(r *http.Request) (LocalNetworkAdmin, string, error) {
	ref := r.PathValue("id")
	nets, err := s.allNetworks(r.Context(), false)
	if err != nil {
		return nil, "", err
	}
	n, err := findNetwork(nets, ref)
	switch {
	case errdefs.Is(err, errdefs.KindNotFound):
		// A worker may not know the swarm network yet: the engine asks
		// the managers, who decide whether it is attachable.
	case err != nil:
		return nil, "", err
	case n.Scope == "local" && predefined[n.Name]:
		ref = n.Name
	}
	admin, err := s.localAdmin()
	return admin, ref, err
}
