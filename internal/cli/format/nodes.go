package format

import (
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"
)

// NodeHeader is the header of `node ls`; the ID column carries the "*" that
// marks the node the CLI talks to.
var NodeHeader = []string{"ID  ", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"}

func nodesByHostname(nodes []swarm.Node) []swarm.Node {
	return byName(nodes, func(n swarm.Node) string { return n.Description.Hostname })
}

// NodeRows renders `node ls` rows ordered by hostname; selfID is the current
// node's ID (from GET /info).
func NodeRows(nodes []swarm.Node, selfID string) [][]string {
	var rows [][]string
	for _, n := range nodesByHostname(nodes) {
		mark := " "
		if n.ID == selfID {
			mark = "*"
		}
		rows = append(rows, []string{
			n.ID + " " + mark,
			n.Description.Hostname,
			Capitalize(string(n.Status.State)),
			Capitalize(string(n.Spec.Availability)),
			ManagerStatus(n),
			n.Description.Engine.EngineVersion,
		})
	}
	return rows
}

// NodeIDs lists node IDs in `node ls` order, for -q.
func NodeIDs(nodes []swarm.Node) []string {
	var ids []string
	for _, n := range nodesByHostname(nodes) {
		ids = append(ids, n.ID)
	}
	return ids
}

// ManagerStatus is the MANAGER STATUS cell: Leader, Reachable or Unreachable
// for managers, empty for workers.
func ManagerStatus(n swarm.Node) string {
	if n.ManagerStatus == nil {
		return ""
	}
	if n.ManagerStatus.Leader {
		return "Leader"
	}
	return Capitalize(string(n.ManagerStatus.Reachability))
}

// NodePretty writes `node inspect --pretty` for one node. Its tabs are
// docker's: they line the values up on an 8-column terminal.
func NodePretty(w io.Writer, n swarm.Node) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("ID:\t\t\t%s", n.ID)
	if n.Spec.Name != "" {
		p("Name:\t\t\t%s", n.Spec.Name)
	}
	if len(n.Spec.Labels) > 0 {
		p("Labels:")
		for _, k := range slices.Sorted(maps.Keys(n.Spec.Labels)) {
			p(" - %s", kv(k, n.Spec.Labels[k]))
		}
	}
	p("Hostname:              \t%s", n.Description.Hostname)
	p("Joined at:             \t%s", n.CreatedAt)
	p("Status:")
	p(" State:\t\t\t%s", Capitalize(string(n.Status.State)))
	if n.Status.Message != "" {
		p(" Message:              \t%s", Capitalize(n.Status.Message))
	}
	p(" Availability:         \t%s", Capitalize(string(n.Spec.Availability)))
	if n.Status.Addr != "" {
		p(" Address:\t\t%s", n.Status.Addr)
	}
	if ms := n.ManagerStatus; ms != nil {
		p("Manager Status:")
		p(" Address:\t\t%s", ms.Addr)
		p(" Raft Status:\t\t%s", Capitalize(string(ms.Reachability)))
		if ms.Leader {
			p(" Leader:\t\tYes")
		} else {
			p(" Leader:\t\tNo")
		}
	}
	p("Platform:")
	p(" Operating System:\t%s", n.Description.Platform.OS)
	p(" Architecture:\t\t%s", n.Description.Platform.Architecture)
	p("Resources:")
	p(" CPUs:\t\t\t%d", n.Description.Resources.NanoCPUs/1e9)
	mem := ""
	if n.Description.Resources.MemoryBytes != 0 {
		mem = BinarySize(n.Description.Resources.MemoryBytes)
	}
	p(" Memory:\t\t%s", mem)
	if plugins := n.Description.Engine.Plugins; len(plugins) > 0 {
		byType := map[string][]string{}
		for _, pl := range plugins {
			byType[pl.Type] = append(byType[pl.Type], pl.Name)
		}
		p("Plugins:")
		for _, t := range slices.Sorted(maps.Keys(byType)) {
			p(" %s:\t\t%s", t, strings.Join(byType[t], ", "))
		}
	}
	p("Engine Version:\t\t%s", n.Description.Engine.EngineVersion)
	if labels := n.Description.Engine.Labels; len(labels) > 0 {
		p("Engine Labels:")
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			p(" - %s", kv(k, labels[k]))
		}
	}
	if tls := n.Description.TLSInfo; !reflect.DeepEqual(tls, swarm.TLSInfo{}) {
		p("TLS Info:")
		p(" TrustRoot:")
		p("%s", tls.TrustRoot)
		p(" Issuer Subject:\t%s", base64.StdEncoding.EncodeToString(tls.CertIssuerSubject))
		p(" Issuer Public Key:\t%s", base64.StdEncoding.EncodeToString(tls.CertIssuerPublicKey))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func kv(k, v string) string {
	if v == "" {
		return k
	}
	return k + "=" + v
}
