package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/identity"
)

// predefinedNetworks are the networks every node has, named as Docker
// names them, with the IDs this node gave them once and keeps.
type predefinedNetworks struct {
	IDs     map[string]string // name → ID
	Created time.Time
}

// loadPredefined reads the IDs of the predefined networks from path, or
// makes and saves them the first time, so that they stay the same across
// restarts as dockerd's do.
func loadPredefined(path string) (predefinedNetworks, error) {
	var p predefinedNetworks
	data, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(data, &p); err != nil {
			return p, fmt.Errorf("read %s: %w", path, err)
		}
		return p, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return p, err
	}
	p = predefinedNetworks{IDs: map[string]string{}, Created: time.Now().UTC()}
	for _, name := range []string{network.NetworkBridge, network.NetworkHost, network.NetworkNone} {
		p.IDs[name] = identity.NewContainerID()
	}
	if data, err = json.Marshal(p); err != nil {
		return p, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return p, err
	}
	return p, os.WriteFile(path, data, 0o600)
}

// LocalNetworks returns the node's local networks as GET /networks
// shows them: the default bridge (the node's bridge, which also gives
// swarm tasks their way out, as docker_gwbridge does), host, none and
// the user-defined bridges.
func (e *Engine) LocalNetworks(ctx context.Context) ([]network.Inspect, error) {
	b := e.Network
	mk := func(name, driver string) network.Inspect {
		return network.Inspect{Network: network.Network{
			Name: name, ID: e.predefined.IDs[name], Created: e.predefined.Created, Scope: "local", Driver: driver,
			EnableIPv4: name == network.NetworkBridge,
			IPAM:       network.IPAM{Driver: "default", Config: []network.IPAMConfig{}},
			Options:    map[string]string{}, Labels: map[string]string{},
		}, Containers: map[string]network.EndpointResource{}}
	}
	bridge := mk(network.NetworkBridge, "bridge")
	bridge.IPAM.Config = append(bridge.IPAM.Config, network.IPAMConfig{Subnet: b.Subnet(), Gateway: b.Gateway()})
	bridge.Options = map[string]string{
		"com.docker.network.bridge.name":                 b.Name(),
		"com.docker.network.bridge.default_bridge":       "true",
		"com.docker.network.bridge.enable_ip_masquerade": "true",
	}
	out := []network.Inspect{bridge, mk(network.NetworkHost, "host"), mk(network.NetworkNone, "null")}
	return append(out, e.Containers.nets.inspect()...), nil
}

// NodeSwarmNetworks are the swarm networks this node carries (those its
// tasks are on, and the ingress network) as a worker's GET /networks
// shows them: a worker has no copy of the swarm's, and dockerd lists
// these.
func (e *Engine) NodeSwarmNetworks() []network.Inspect {
	var out []network.Inspect
	for _, n := range e.Dataplane.Networks() {
		cfg := network.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway}
		out = append(out, network.Inspect{Network: network.Network{
			Name: n.Name, ID: n.ID, Scope: "swarm", Driver: "overlay", EnableIPv4: true,
			Internal: n.Internal, Attachable: n.Attachable, Ingress: n.Ingress,
			IPAM:    network.IPAM{Driver: "default", Config: []network.IPAMConfig{cfg}},
			Options: map[string]string{"com.docker.network.driver.overlay.vxlanid_list": strconv.FormatUint(uint64(n.VNI), 10)},
			Labels:  map[string]string{},
		}, Containers: map[string]network.EndpointResource{}})
	}
	return out
}
