package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// TestLocalNetworks drives user-defined bridge networks on one node with
// the docker CLI as a user of a single Docker engine would: containers
// finding each other by name and alias, networks kept apart, an internal
// network with no way out, connect and disconnect of a running
// container, static addresses, a published port, bad input refused with
// nothing left, everything back after a SIGKILL of the daemon, and
// docker-py.
func TestLocalNetworks(t *testing.T) {
	d := StartDaemon(t)
	d.Docker("import", testimage.RootfsTar(t), "busybox:latest")
	t.Cleanup(func() {
		if ids, _ := d.TryDocker("ps", "-aq"); strings.TrimSpace(ids) != "" {
			d.TryDocker(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		// The bridges outlive the daemon by design, as containers do.
		d.TryDocker("network", "prune", "-f")
	})
	bridges := func() string {
		out, _ := exec.Command("sh", "-c", "ip -br link show type bridge | awk '{print $1}' | grep '^br-' | sort").Output()
		return string(out)
	}
	// ok runs a shell command in a container and reports whether it
	// exited 0.
	ok := func(ctr, script string) bool {
		_, _, code := dockerIn(t, d, "", "exec", ctr, "sh", "-c", script)
		return code == 0
	}

	d.Docker("network", "create", "--label", "tier=front", "front")
	d.Docker("network", "create", "--subnet", "10.253.7.0/24", "--gateway", "10.253.7.254", "--ip-range", "10.253.7.128/25", "back")
	d.Docker("run", "-d", "--name", "web", "--network", "front", "--network-alias", "www", "busybox", "sh", "-c", httpdHello[2])
	d.Docker("run", "-d", "--name", "client", "--network", "front", "busybox", "sleep", "3600")
	d.Docker("run", "-d", "--name", "other", "--network", "back", "busybox", "sleep", "3600")
	webIP := inspect(d, "web", "{{.NetworkSettings.Networks.front.IPAddress}}")

	t.Run("containers on a network reach each other by name and alias", func(t *testing.T) {
		for _, name := range []string{"web", "www", "WEB", "web.front"} {
			Eventually(t, 10*time.Second, func() string {
				if out, _, _ := dockerIn(t, d, "", "exec", "client", "wget", "-q", "-O-", "http://"+name+"/"); strings.TrimSpace(out) != "hello from web" {
					return fmt.Sprintf("wget http://%s/ from client: %q", name, out)
				}
				return ""
			})
		}
		if !ok("client", "ping -c1 -W2 "+webIP) {
			t.Fatalf("client cannot ping web at %s", webIP)
		}
		if !ok("client", "nslookup github.invalid 127.0.0.11 2>&1 | grep -q 127.0.0.11") {
			t.Fatal("client's DNS server is not at 127.0.0.11")
		}
		if got := inspect(d, "web", `{{json .NetworkSettings.Networks.front.Aliases}} {{.NetworkSettings.Networks.front.Gateway}} {{.NetworkSettings.Networks.front.MacAddress}} {{.HostConfig.NetworkMode}}`); !strings.HasPrefix(got, `["www"] `) || !strings.HasSuffix(got, " front") {
			t.Fatalf("web's endpoint: %q", got)
		}
	})

	t.Run("a legacy link is a name for the linking container alone", func(t *testing.T) {
		d.Docker("run", "-d", "--name", "linked", "--network", "front", "--link", "web:db", "busybox", "sleep", "3600")
		if out, _, _ := dockerIn(t, d, "", "exec", "linked", "wget", "-q", "-O-", "http://db/"); strings.TrimSpace(out) != "hello from web" {
			t.Fatalf("linked cannot reach web by its link alias db: %q", out)
		}
		if ok("client", "nslookup db") {
			t.Fatal("client resolves another container's link alias")
		}
		if got := inspect(d, "linked", "{{json .NetworkSettings.Networks.front.Links}}"); got != `["web:db"]` {
			t.Fatalf("linked's links: %s", got)
		}
	})

	t.Run("networks are kept apart, the default bridge has no names", func(t *testing.T) {
		if ok("other", "ping -c1 -W1 "+webIP) {
			t.Fatalf("other (on back) reached web (on front) at %s", webIP)
		}
		if ok("other", "nslookup web") {
			t.Fatal("other (on back) resolved web (on front)")
		}
		d.Docker("run", "-d", "--name", "plain", "busybox", "sleep", "3600")
		if ok("plain", "ping -c1 -W1 "+webIP) {
			t.Fatal("a container on the default bridge reached web")
		}
		if ok("plain", "nslookup client") {
			t.Fatal("a container on the default bridge resolved client")
		}
	})

	t.Run("an internal network has no way out", func(t *testing.T) {
		d.Docker("network", "create", "--internal", "vault")
		d.Docker("run", "-d", "--name", "locked", "--network", "vault", "busybox", "sleep", "3600")
		d.Docker("run", "-d", "--name", "peer", "--network", "vault", "busybox", "sleep", "3600")
		// Its default route goes to the network's gateway, as dockerd
		// 20.10 gives it; nothing is forwarded that way (below).
		gw := inspect(d, "vault", "{{(index .IPAM.Config 0).Gateway}}")
		if got := defaultRoute(d, "locked"); got != "default via "+gw+" dev eth0" {
			t.Fatalf("default route of a container on an internal network: %q, want via its gateway %s", got, gw)
		}
		if !ok("locked", "ping -c1 -W2 peer") {
			t.Fatal("containers on an internal network cannot reach each other")
		}
		// A host outside the node's bridges, which a container on a
		// network that is not internal reaches through the node.
		outside := outsideHost(t)
		if !ok("client", "ping -c1 -W2 "+outside) {
			t.Fatalf("client (on front) cannot reach %s outside", outside)
		}
		// Even with a route, nothing is forwarded out.
		if ok("locked", "ping -c1 -W1 "+outside) {
			t.Fatalf("a container on an internal network reached %s outside", outside)
		}
		if ok("locked", "ping -c1 -W1 "+webIP) {
			t.Fatalf("a container on an internal network reached web at %s through its bridge", webIP)
		}
	})

	t.Run("connect and disconnect a running container", func(t *testing.T) {
		d.Docker("network", "connect", "--alias", "backweb", "back", "web")
		if got := inspect(d, "web", "{{len .NetworkSettings.Networks}} {{.NetworkSettings.Networks.back.IPAddress}}"); !strings.HasPrefix(got, "2 10.253.7.") {
			t.Fatalf("web after connect: %q", got)
		}
		Eventually(t, 10*time.Second, func() string {
			if out, _, _ := dockerIn(t, d, "", "exec", "other", "wget", "-q", "-O-", "http://backweb/"); strings.TrimSpace(out) != "hello from web" {
				return fmt.Sprintf("other cannot reach web by its alias on back: %q", out)
			}
			return ""
		})
		if !ok("web", "ip -o addr show eth1 | grep -q 10.253.7.") {
			t.Fatal("web has no eth1 on back")
		}
		if out, _, code := dockerIn(t, d, "", "network", "connect", "back", "web"); code == 0 {
			t.Fatalf("connecting twice succeeded: %s", out)
		}
		d.Docker("network", "disconnect", "back", "web")
		if ok("other", "nslookup backweb") || ok("other", "ping -c1 -W1 web") {
			t.Fatal("web is still reachable on back after disconnect")
		}
		// A stopped container too.
		d.Docker("stop", "-t", "0", "other")
		d.Docker("network", "connect", "front", "other")
		d.Docker("start", "other")
		if !ok("other", "ping -c1 -W2 web") {
			t.Fatal("other, connected to front while stopped, cannot reach web")
		}
		d.Docker("network", "disconnect", "-f", "front", "other")
	})

	t.Run("the default route follows connect and disconnect as in dockerd", func(t *testing.T) {
		// dockerd 20.10 routes through the network whose name sorts
		// first (one that is not internal), not the one joined first,
		// and moves the route when that network comes or goes.
		outside := outsideHost(t)
		gw := func(net string) string { return inspect(d, net, "{{(index .IPAM.Config 0).Gateway}}") }
		front, back, node := gw("front"), gw("back"), gw("bridge")
		route := func(ctr, via, dev string) {
			t.Helper()
			want := "default via " + via + " dev " + dev
			if got := defaultRoute(d, ctr); got != want {
				t.Fatalf("%s's default route: %q, want %q", ctr, got, want)
			}
			if !ok(ctr, "ping -c1 -W2 "+outside) {
				t.Fatalf("%s does not reach %s outside through %q", ctr, outside, want)
			}
		}
		d.Docker("run", "-d", "--name", "routed", "--network", "front", "busybox", "sleep", "3600")
		route("routed", front, "eth0")
		d.Docker("network", "connect", "back", "routed")
		route("routed", back, "eth1")
		d.Docker("network", "disconnect", "back", "routed")
		route("routed", front, "eth0")

		// On the default bridge, "bridge" sorts between back and front.
		d.Docker("run", "-d", "--name", "bridged", "busybox", "sleep", "3600")
		d.Docker("network", "connect", "front", "bridged")
		route("bridged", node, "eth0")
		d.Docker("network", "connect", "back", "bridged")
		route("bridged", back, "eth2")
		d.Docker("network", "disconnect", "back", "bridged")
		route("bridged", node, "eth0")

		// docker network connect bridge, as dockerd 20.10 (checked side
		// by side): an interface and an address on the default bridge,
		// inspect shows it, and "bridge" sorts before "front". Names are
		// never given twice in one namespace: routed had eth0 (front)
		// and eth1 (back, disconnected), so the bridge is eth2.
		d.Docker("network", "connect", "bridge", "routed")
		addr := inspect(d, "routed", "{{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.Networks.bridge.Gateway}}")
		ip, gwOf, _ := strings.Cut(addr, " ")
		if gwOf != node || !ok("routed", "ip -o addr show eth2 | grep -q 'inet "+ip+"/'") {
			t.Fatalf("routed after connect bridge: inspect %q, want an address on eth2 via %s", addr, node)
		}
		route("routed", node, "eth2")
		if !ok("bridged", "ping -c1 -W2 "+ip) {
			t.Fatalf("a container of the default bridge does not reach routed at %s", ip)
		}
		refused := func(want string, args ...string) {
			t.Helper()
			if out, errOut, code := dockerIn(t, d, "", args...); code == 0 || !strings.Contains(errOut, want) {
				t.Fatalf("%v: exit %d, %q %q; want refused with %q", args, code, out, errOut, want)
			}
		}
		refused("endpoint with name routed already exists in network bridge", "network", "connect", "bridge", "routed")
		refused("network-scoped alias is supported only for containers in user defined networks", "network", "connect", "--alias", "x", "bridge", "bridged")
		// Back is eth3, and "back" sorts before "bridge"; once eth2
		// (bridge) goes, the bridge comes back as eth4.
		d.Docker("network", "connect", "back", "routed")
		route("routed", back, "eth3")
		d.Docker("network", "disconnect", "bridge", "routed")
		if ok("routed", "ip link show eth2") || inspect(d, "routed", "{{with .NetworkSettings.Networks.bridge}}on bridge{{end}}") != "" {
			t.Fatal("routed still has eth2 or shows bridge after disconnect")
		}
		route("routed", back, "eth3")
		refused("is not connected to network bridge", "network", "disconnect", "bridge", "routed")
		d.Docker("network", "connect", "bridge", "routed")
		route("routed", back, "eth3")
		if !ok("routed", "ip link show eth4") {
			t.Fatal("routed: the bridge reconnected is not eth4")
		}
		d.Docker("network", "disconnect", "back", "routed")
		route("routed", node, "eth4")
		d.Docker("network", "connect", "back", "routed")
		if !ok("routed", "ip -o addr show eth5 | grep -q 'inet 10.253.7.'") {
			t.Fatal("routed: back reconnected is not eth5")
		}
		route("routed", back, "eth5")

		// A container of the default bridge leaves it, and comes back as
		// eth1 (eth0 was given).
		d.Docker("run", "-d", "--name", "leaver", "busybox", "sleep", "3600")
		d.Docker("network", "disconnect", "bridge", "leaver")
		if got := defaultRoute(d, "leaver"); got != "" || ok("leaver", "ip link show eth0") || inspect(d, "leaver", "{{len .NetworkSettings.Networks}}") != "0" {
			t.Fatalf("leaver after disconnect bridge: route %q, networks %s", got, inspect(d, "leaver", "{{json .NetworkSettings.Networks}}"))
		}
		d.Docker("network", "connect", "bridge", "leaver")
		route("leaver", node, "eth1")

		// What dockerd refuses.
		d.Docker("run", "-d", "--name", "onhost", "--network", "host", "busybox", "sleep", "3600")
		d.Docker("run", "-d", "--name", "onnone", "--network", "none", "busybox", "sleep", "3600")
		refused("container sharing network namespace with another container or host cannot be connected to any other network", "network", "connect", "bridge", "onhost")
		refused("container cannot be connected to multiple networks with one of the networks in private (none) mode", "network", "connect", "bridge", "onnone")
		refused("container cannot be disconnected from host network or connected to host network", "network", "connect", "host", "routed")
		refused("user specified IP address is supported on user defined networks only", "network", "connect", "--ip", node, "bridge", "leaver")
		d.Docker("rm", "-f", "bridged", "leaver", "onhost", "onnone")
	})

	t.Run("a container run with --network none leaves none for a network, as dockerd 20.10", func(t *testing.T) {
		// Checked side by side with dockerd 20.10: the documented way to
		// give a none container a network. Its mode stays none; none
		// leaves its networks, and none goes with no other network.
		refused := func(want string, args ...string) {
			t.Helper()
			if out, errOut, code := dockerIn(t, d, "", args...); code == 0 || !strings.Contains(errOut, want) {
				t.Fatalf("%v: exit %d, %q %q; want refused with %q", args, code, out, errOut, want)
			}
		}
		nets := func(ctr string) string {
			return inspect(d, ctr, "{{.HostConfig.NetworkMode}}:{{range $k, $v := .NetworkSettings.Networks}} {{$k}}{{end}}")
		}
		const conflict = "container cannot be connected to multiple networks with one of the networks in private (none) mode"
		d.Docker("run", "-d", "--name", "offnone", "--network", "none", "busybox", "sleep", "3600")
		if got := nets("offnone"); got != "none: none" {
			t.Fatalf("offnone: %q, want on none", got)
		}
		refused(conflict, "network", "connect", "front", "offnone")
		refused("endpoint with name offnone already exists in network none", "network", "connect", "none", "offnone")
		d.Docker("network", "disconnect", "none", "offnone")
		if got := nets("offnone"); got != "none:" {
			t.Fatalf("offnone after disconnect none: %q, want no network", got)
		}
		if got := d.Docker("ps", "--filter", "network=none", "--format", "{{.Names}}"); strings.Contains(got, "offnone") {
			t.Fatalf("ps --filter network=none lists offnone, which left none: %q", got)
		}
		refused("is not connected to network none", "network", "disconnect", "none", "offnone")
		d.Docker("network", "connect", "front", "offnone")
		if got := nets("offnone"); got != "none: front" {
			t.Fatalf("offnone after connect front: %q", got)
		}
		if got, want := defaultRoute(d, "offnone"), "default via "+inspect(d, "front", "{{(index .IPAM.Config 0).Gateway}}")+" dev eth0"; got != want {
			t.Fatalf("offnone's default route: %q, want %q", got, want)
		}
		// Names too: its resolv.conf now points at its DNS server.
		if !ok("offnone", "wget -q -O- http://web/ | grep -q 'hello from web'") {
			t.Fatal("offnone, connected to front, does not reach web by name")
		}
		refused(conflict, "network", "connect", "none", "offnone")

		// Stopped: it starts on the network it was given.
		d.Docker("create", "--name", "offnone2", "--network", "none", "busybox", "sleep", "3600")
		d.Docker("network", "disconnect", "none", "offnone2")
		d.Docker("network", "connect", "back", "offnone2")
		d.Docker("start", "offnone2")
		if got := nets("offnone2"); got != "none: back" || !ok("offnone2", "ip -o addr show eth0 | grep -q 'inet 10.253.7.'") {
			t.Fatalf("offnone2 started after connect back: %q, want an address of back on eth0", got)
		}
		// A container left on no network joins none, and then no other.
		d.Docker("run", "-d", "--name", "nonet", "busybox", "sleep", "3600")
		d.Docker("network", "disconnect", "bridge", "nonet")
		d.Docker("network", "connect", "none", "nonet")
		if got := nets("nonet"); !strings.HasSuffix(got, ": none") {
			t.Fatalf("nonet after connect none: %q", got)
		}
		refused(conflict, "network", "connect", "front", "nonet")
		d.Docker("rm", "-f", "offnone2", "nonet")
		// For the restart of the daemon below: one left on no network.
		d.Docker("run", "-d", "--name", "bare", "--network", "none", "busybox", "sleep", "3600")
		d.Docker("network", "disconnect", "none", "bare")
	})

	t.Run("the hosts file names the container on each network it joins, as dockerd 20.10", func(t *testing.T) {
		// dockerd appends a line per network joined, after the extra
		// hosts; leaving takes out the lines ending in a name the
		// network knows but the container's own (so a default hostname,
		// its short ID, loses all of them, and a hostname of its own
		// keeps them); a start writes the file anew.
		d.Docker("run", "-d", "--name", "hosted", "--network", "front", "--hostname", "hh", "--domainname", "ex.org", "--add-host", "foo:1.2.3.4", "busybox", "sleep", "3600")
		own := func(ctr string) string {
			t.Helper()
			all := d.Docker("exec", ctr, "cat", "/etc/hosts")
			_, after, found := strings.Cut(all, "ff02::2\tip6-allrouters\n")
			if !found {
				t.Fatalf("%s's /etc/hosts: %q", ctr, all)
			}
			return after
		}
		addr := func(ctr, net string) string {
			return inspect(d, ctr, "{{.NetworkSettings.Networks."+net+".IPAddress}}")
		}
		expect := func(ctr, want string) {
			t.Helper()
			if got := own(ctr); got != want {
				t.Fatalf("%s's /etc/hosts after the loopback names:\n%q\nwant\n%q", ctr, got, want)
			}
		}
		front := addr("hosted", "front") + "\thh.ex.org hh\n"
		expect("hosted", "1.2.3.4\tfoo\n"+front)
		d.Docker("network", "connect", "back", "hosted")
		back := addr("hosted", "back") + "\thh.ex.org hh\n"
		d.Docker("network", "connect", "bridge", "hosted")
		bridge := addr("hosted", "bridge") + "\thh.ex.org hh\n"
		expect("hosted", "1.2.3.4\tfoo\n"+front+back+bridge)
		d.Docker("network", "disconnect", "front", "hosted")
		expect("hosted", "1.2.3.4\tfoo\n"+front+back+bridge)
		d.Docker("restart", "-t", "0", "hosted")
		expect("hosted", "1.2.3.4\tfoo\n"+bridge+back)

		d.Docker("run", "-d", "--name", "shorthost", "--network", "front", "busybox", "sleep", "3600")
		short := inspect(d, "shorthost", "{{.Id}}")[:12]
		d.Docker("network", "connect", "back", "shorthost")
		expect("shorthost", addr("shorthost", "front")+"\t"+short+"\n"+addr("shorthost", "back")+"\t"+short+"\n")
		d.Docker("network", "disconnect", "back", "shorthost")
		expect("shorthost", "")
		d.Docker("rm", "-f", "hosted", "shorthost")
	})

	t.Run("host-gateway is the node bridge's address on every network, as dockerd's default", func(t *testing.T) {
		gw := strings.TrimSpace(d.Docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge"))
		for _, mode := range []string{"bridge", "front", "host"} {
			hosts := d.Docker("run", "--rm", "--network", mode, "--add-host", "hostgw:host-gateway", "busybox", "cat", "/etc/hosts")
			if !strings.Contains(hosts, gw+"\thostgw\n") {
				t.Errorf("--network %s: /etc/hosts has no %q:\n%s", mode, gw+"\thostgw", hosts)
			}
		}
	})

	t.Run("a published port goes where the default route is, as dockerd 20.10", func(t *testing.T) {
		// dockerd points a container's ports at its address on the
		// network holding its default route, and moves them when a
		// connect or disconnect moves it: a port published from front
		// answers once the container left front for the bridge, and
		// one published from the bridge once it left it for back.
		answers := func(port int) {
			t.Helper()
			for _, host := range []string{"127.0.0.1", nodeAddr(t)} {
				Eventually(t, 10*time.Second, func() string {
					if body, err := get(fmt.Sprintf("http://%s:%d/", host, port)); strings.TrimSpace(body) != "hello from web" {
						return fmt.Sprintf("%s:%d: %q %v", host, port, body, err)
					}
					return ""
				})
			}
		}
		p1, p2 := freePort(t), freePort(t)
		d.Docker("run", "-d", "--name", "pubfront", "--network", "front", "-p", fmt.Sprintf("%d:80", p1), "busybox", "sh", "-c", httpdHello[2])
		d.Docker("run", "-d", "--name", "pubbridge", "-p", fmt.Sprintf("%d:80", p2), "busybox", "sh", "-c", httpdHello[2])
		answers(p1)
		answers(p2)
		d.Docker("network", "connect", "bridge", "pubfront")
		d.Docker("network", "disconnect", "front", "pubfront")
		answers(p1)
		d.Docker("network", "connect", "back", "pubbridge")
		d.Docker("network", "disconnect", "bridge", "pubbridge")
		answers(p2)
		d.Docker("rm", "-f", "pubfront", "pubbridge")
	})

	t.Run("static addresses", func(t *testing.T) {
		d.Docker("run", "-d", "--name", "fixed", "--network", "back", "--ip", "10.253.7.9", "busybox", "sleep", "3600")
		if got := inspect(d, "fixed", "{{.NetworkSettings.Networks.back.IPAddress}} {{.NetworkSettings.Networks.back.IPAMConfig.IPv4Address}}"); got != "10.253.7.9 10.253.7.9" {
			t.Fatalf("fixed: %q", got)
		}
		if got := inspect(d, "other", "{{.NetworkSettings.Networks.back.IPAddress}}"); !strings.HasPrefix(got, "10.253.7.1") {
			t.Fatalf("other got %q, want an address of --ip-range 10.253.7.128/25", got)
		}
		for _, c := range []struct{ args, want string }{
			{"--network back --ip 10.253.7.9", "already in use"},
			{"--network back --ip 10.253.8.1", "not a host address"},
			{"--network front --ip 172.40.0.5", "user configured subnets"},
		} {
			_, stderr, code := dockerIn(t, d, "", append(append([]string{"run", "-d"}, strings.Fields(c.args)...), "busybox", "true")...)
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Errorf("run %s: exit %d, %q; want an error with %q", c.args, code, stderr, c.want)
			}
		}
		if out := d.Docker("ps", "-aq", "--filter", "status=created"); strings.TrimSpace(out) != "" {
			t.Fatalf("refused runs left containers: %s", out)
		}
	})

	t.Run("a port published from a user-defined network answers", func(t *testing.T) {
		port := freePort(t)
		d.Docker("run", "-d", "--name", "pub", "--network", "front", "-p", fmt.Sprintf("%d:80", port), "busybox", "sh", "-c", httpdHello[2])
		for _, host := range []string{"127.0.0.1", nodeAddr(t)} {
			Eventually(t, 10*time.Second, func() string {
				if body, err := get(fmt.Sprintf("http://%s:%d/", host, port)); strings.TrimSpace(body) != "hello from web" {
					return fmt.Sprintf("%s:%d: %q %v", host, port, body, err)
				}
				return ""
			})
		}
	})

	t.Run("network ls, inspect and filters", func(t *testing.T) {
		if got := d.Docker("network", "ls", "--filter", "driver=bridge", "--filter", "type=custom", "--format", "{{.Name}} {{.Scope}}"); got != "back local\nfront local\nvault local\n" {
			t.Fatalf("ls custom bridges: %q", got)
		}
		if got := d.Docker("network", "ls", "-q", "--filter", "label=tier=front", "--no-trunc"); strings.TrimSpace(got) != inspect(d, "front", "{{.Id}}") {
			t.Fatalf("ls by label: %q", got)
		}
		got := inspect(d, "front", "{{range .Containers}}{{.Name}} {{end}}|{{.Driver}} {{.Scope}} {{.Labels.tier}} {{(index .IPAM.Config 0).Subnet}}")
		for _, want := range []string{"web ", "client ", "pub ", "|bridge local front 172."} {
			if !strings.Contains(got, want) {
				t.Fatalf("inspect front: %q, want %q in it", got, want)
			}
		}
	})

	t.Run("bad input is refused with nothing made", func(t *testing.T) {
		before, nets := bridges(), d.Docker("network", "ls", "-q")
		for _, c := range []struct{ args, want string }{
			{"--subnet 10.253.7.0/25 overlap", "overlaps"},
			{"--subnet 10.253.300.0/24 badcidr", "invalid"},
			{"--subnet 10.254.1.0/24 --gateway 10.254.2.1 badgw", "gateway"},
			{"-d nosuch strange", "nosuch"},
			{"front", "already exists"},
			{"-o com.docker.network.bridge.name=" + d.Bridge + " clash", "exists"},
		} {
			_, stderr, code := dockerIn(t, d, "", append([]string{"network", "create"}, strings.Fields(c.args)...)...)
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Errorf("network create %s: exit %d, %q; want an error with %q", c.args, code, stderr, c.want)
			}
		}
		// The CLI checks some itself: the daemon must too.
		for _, tt := range []struct {
			body string
			code int
			want string
		}{
			{`{"Name":"badgw","IPAM":{"Config":[{"Subnet":"10.254.1.0/24","Gateway":"10.254.2.1"}]}}`, 400, "IPAM.Config.Gateway: 10.254.2.1 is not a host address of subnet 10.254.1.0/24"},
			{`{"Name":"badrange","IPAM":{"Config":[{"Subnet":"10.254.1.0/24","IPRange":"10.254.0.0/16"}]}}`, 400, "IPAM.Config.IPRange"},
			{`{"Name":"notnet","IPAM":{"Config":[{"Subnet":"10.254.1.7/24"}]}}`, 400, "IPAM.Config.Subnet: 10.254.1.7/24 is not a network address"},
			{`{"Name":"overlap","IPAM":{"Config":[{"Subnet":"10.253.0.0/16"}]}}`, 403, "overlaps"},
			{`{"Name":"opt","Options":{"com.docker.network.bridge.mystery":"1"}}`, 400, "Options: unknown bridge option"},
			{`{"Name":"bad name!"}`, 400, "Name: invalid network name"},
		} {
			resp, err := d.HTTPClient().Post("http://shoal/v1.50/networks/create", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			var msg struct{ Message string }
			json.NewDecoder(resp.Body).Decode(&msg)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(msg.Message, tt.want) {
				t.Errorf("POST /networks/create %s: %d %q; want %d mentioning %q", tt.body, resp.StatusCode, msg.Message, tt.code, tt.want)
			}
		}
		if got := d.Docker("network", "ls", "-q"); got != nets {
			t.Errorf("networks after refused creates:\n%s\nbefore:\n%s", got, nets)
		}
		if _, stderr, code := dockerIn(t, d, "", "network", "rm", "back"); code == 0 || !strings.Contains(stderr, "active endpoints") {
			t.Errorf("rm of a network in use: exit %d, %q", code, stderr)
		}
		if after := bridges(); after != before {
			t.Fatalf("bridges before %q, after %q", before, after)
		}
	})

	t.Run("networks and connections survive a SIGKILL of the daemon", func(t *testing.T) {
		d.Kill()
		d.Start()
		Eventually(t, 10*time.Second, func() string {
			if out, _, _ := dockerIn(t, d, "", "exec", "client", "wget", "-q", "-O-", "http://www/"); strings.TrimSpace(out) != "hello from web" {
				return fmt.Sprintf("client after the restart: %q", out)
			}
			return ""
		})
		if ok("other", "ping -c1 -W1 "+webIP) {
			t.Fatal("after the restart, back reaches front")
		}
		d.Docker("rm", "-f", "fixed")
		// The names given stay given: routed had eth0 to eth5.
		d.Docker("network", "disconnect", "back", "routed")
		d.Docker("network", "connect", "back", "routed")
		if !ok("routed", "ip -o addr show eth6 | grep -q 'inet 10.253.7.'") {
			t.Fatal("after the restart, routed's back reconnected is not eth6")
		}
		d.Docker("run", "-d", "--name", "late", "--network", "front", "busybox", "sleep", "3600")
		if !ok("late", "ping -c1 -W2 web") {
			t.Fatal("a container made after the restart cannot reach web")
		}
		// Containers run with --network none stay where connect and
		// disconnect put them, as with dockerd.
		nets := "{{.HostConfig.NetworkMode}}:{{range $k, $v := .NetworkSettings.Networks}} {{$k}}{{end}}"
		if got := inspect(d, "offnone", nets); got != "none: front" || !ok("offnone", "wget -q -O- http://web/ | grep -q 'hello from web'") {
			t.Fatalf("after the restart, offnone: %q, want on front and reaching web", got)
		}
		if got := inspect(d, "bare", nets); got != "none:" {
			t.Fatalf("after the restart, bare: %q, want on no network", got)
		}
	})

	t.Run("docker-py makes a network and runs on it", func(t *testing.T) {
		if err := exec.Command("python3", "-c", "import docker").Run(); err != nil {
			t.Skip("docker-py is not installed (python3-docker)")
		}
		cmd := exec.Command("python3", "testdata/dockerpy/networks.py")
		cmd.Env = d.Env()
		out, err := cmd.CombinedOutput()
		for _, w := range []string{"connect again: 403", "by name: name ok", "inspect: bridge local ['pyserver']", "list: ['pynet']", "removed: []"} {
			if err != nil || !strings.Contains(string(out), w) {
				t.Fatalf("docker-py: %v\n%s\nwant %q", err, out, w)
			}
		}
	})

	t.Run("rm takes a network's bridge with it", func(t *testing.T) {
		d.Docker("network", "create", "gone")
		name := "br-" + inspect(d, "gone", "{{.Id}}")[:12]
		if !strings.Contains(bridges(), name) {
			t.Fatalf("no bridge %s for network gone", name)
		}
		d.Docker("network", "rm", "gone")
		if strings.Contains(bridges(), name) {
			t.Fatalf("bridge %s left after rm", name)
		}
	})
}

// nodeAddr is an IPv4 address of the node that is not loopback and not
// on a bridge of a test.
func nodeAddr(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || i.Flags&net.FlagUp == 0 || strings.HasPrefix(i.Name, "br-") || strings.HasPrefix(i.Name, "s") || strings.HasPrefix(i.Name, "veth") || strings.HasPrefix(i.Name, "docker") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	t.Skip("no non-loopback address on this node")
	return ""
}

// defaultRoute is container ctr's default route as ip route prints it,
// spaces squeezed; busybox's ip ignores "show default", hence the grep.
func defaultRoute(h interface{ Docker(...string) string }, ctr string) string {
	return strings.Join(strings.Fields(h.Docker("exec", ctr, "sh", "-c", "ip route | grep ^default || true")), " ")
}

// outsideHost makes a network namespace joined to the node by a veth,
// standing for a host outside: 10.252.9.2, routed back through the
// node. It is removed when the test ends.
func outsideHost(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("shoal-out-%d", os.Getpid())
	script := fmt.Sprintf(`set -e
ip netns add %[1]s
ip link add shoalout0 type veth peer name eth0 netns %[1]s
ip addr add 10.252.9.1/30 dev shoalout0
ip link set shoalout0 up
ip -n %[1]s addr add 10.252.9.2/30 dev eth0
ip -n %[1]s link set eth0 up
ip -n %[1]s link set lo up
ip -n %[1]s route add default via 10.252.9.1`, ns)
	t.Cleanup(func() { exec.Command("sh", "-c", "ip link del shoalout0; ip netns del "+ns).Run() })
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("make the outside host: %v\n%s", err, out)
	}
	return "10.252.9.2"
}
