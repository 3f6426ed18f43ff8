// Package localcluster makes a whole Shoal cluster on one Linux machine,
// for learning and testing: each host is a network namespace on a bridge
// of its own, with its own daemon, data directory and socket. It is what
// `shoal cluster up|ls|down` and the end-to-end cluster tests use.
package localcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
)

// Host is one simulated machine.
type Host struct {
	Name     string // e.g. "manager1", also the node's hostname
	Role     string // "manager" or "worker"
	Netns    string // name under /run/netns
	Veth     string // the host end of its link, on the cluster bridge
	Addr     netip.Addr
	DataRoot string
	ExecRoot string
	Socket   string
	Pid      int // the daemon's PID, 0 when not running
}

// Cluster is a planned or running local cluster.
type Cluster struct {
	Name    string
	Bridge  string       // the bridge joining the hosts, in the root namespace
	Subnet  netip.Prefix // hosts take addresses from it; the bridge has the first
	Gateway netip.Addr
	Dir     string // state: Dir/cluster.json, and each host's data root below it
	Hosts   []Host
}

// Host roots, kept short: unix socket paths must stay under 108 bytes.
const (
	StateRoot = "/var/lib/shoal-cluster"
	runRoot   = "/run/shc"
)

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,19}$`)

// Plan decides names, addresses and paths of a cluster; it changes
// nothing. Managers come first, so the first host initialises the swarm.
func Plan(name string, managers, workers int, subnet netip.Prefix) (*Cluster, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("cluster name %q: use up to 20 lowercase letters, digits and dashes", name)
	}
	if managers < 1 {
		return nil, fmt.Errorf("--managers %d: a cluster needs at least one manager", managers)
	}
	if workers < 0 {
		return nil, fmt.Errorf("--workers %d: must not be negative", workers)
	}
	if !subnet.Addr().Is4() || subnet.Bits() > 28 {
		return nil, fmt.Errorf("subnet %s: want an IPv4 prefix of /28 or larger", subnet)
	}
	subnet = subnet.Masked()
	hosts := managers + workers
	if room := 1<<(32-subnet.Bits()) - 3; hosts > room {
		return nil, fmt.Errorf("subnet %s holds %d hosts, not %d", subnet, room, hosts)
	}
	// Interface names are at most 15 bytes: name them by a short hash of
	// the cluster's name.
	sum := sha256.Sum256([]byte(name))
	tag := hex.EncodeToString(sum[:])[:6]
	c := &Cluster{
		Name:    name,
		Bridge:  "shc" + tag,
		Subnet:  subnet,
		Gateway: subnet.Addr().Next(),
		Dir:     filepath.Join(StateRoot, name),
	}
	addr := c.Gateway
	for i := range hosts {
		role, n := "manager", i+1
		if i >= managers {
			role, n = "worker", i-managers+1
		}
		addr = addr.Next()
		hostName := fmt.Sprintf("%s%d", role, n)
		run := filepath.Join(runRoot, name, hostName)
		c.Hosts = append(c.Hosts, Host{
			Name:     hostName,
			Role:     role,
			Netns:    fmt.Sprintf("shc-%s-%s", name, hostName),
			Veth:     fmt.Sprintf("shc%s%d", tag, i),
			Addr:     addr,
			DataRoot: filepath.Join(c.Dir, hostName),
			ExecRoot: run,
			Socket:   filepath.Join(run, "shoal.sock"),
		})
	}
	return c, nil
}

// ClusterAddr is a host's cluster address (host:port) for swarm init and join.
func (h Host) ClusterAddr() string { return netip.AddrPortFrom(h.Addr, 2377).String() }

// DockerHost is the DOCKER_HOST to reach a host's daemon.
func (h Host) DockerHost() string { return "unix://" + h.Socket }
