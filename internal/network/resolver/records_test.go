package resolver

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/network/view"
)

func ep(name, service, addr string, running bool, aliases ...string) view.Endpoint {
	return view.Endpoint{
		TaskID: name, Name: name, ServiceID: service, NodeID: "node1",
		Addr: netip.MustParsePrefix(addr + "/24"), Running: running, Aliases: aliases,
	}
}

func vipService(id, name, vip string, aliases ...string) view.Service {
	return view.Service{ID: id, Name: name, Mode: swarm.ResolutionModeVIP, VIP: netip.MustParseAddr(vip), Aliases: aliases}
}

func dnsrrService(id, name string, aliases ...string) view.Service {
	return view.Service{ID: id, Name: name, Mode: swarm.ResolutionModeDNSRR, Aliases: aliases}
}

// testView is a node's view with the networks the tests' container is on
// (front, back, ingress, and an internal one) and one it is not on
// (other).
func testView() *view.Node {
	return &view.Node{NodeID: "node1", Networks: []view.Network{
		{ID: "n1", Name: "front", Services: []view.Service{
			vipService("s-web", "web", "10.0.1.2", "www"),
			dnsrrService("s-db", "db", "database"),
			dnsrrService("s-idle", "idle"),
			// vip mode, but no VIP allocated yet.
			{ID: "s-pend", Name: "pending", Mode: swarm.ResolutionModeVIP},
		}, Endpoints: []view.Endpoint{
			ep("web.1.aaa", "s-web", "10.0.1.10", true, "web-one"),
			ep("web.2.bbb", "s-web", "10.0.1.11", true),
			ep("web.3.ccc", "s-web", "10.0.1.12", false),
			ep("db.1.ddd", "s-db", "10.0.1.20", true),
			ep("db.2.eee", "s-db", "10.0.1.21", false),
			ep("idle.1.fff", "s-idle", "10.0.1.30", false),
			ep("pending.1.ggg", "s-pend", "10.0.1.40", true),
		}},
		{ID: "n2", Name: "back", Services: []view.Service{
			vipService("s-api", "api", "10.0.2.2"),
			vipService("s-web", "web", "10.0.2.3", "www"),
		}, Endpoints: []view.Endpoint{
			ep("api.1.hhh", "s-api", "10.0.2.10", true),
			ep("web.1.aaa", "s-web", "10.0.2.11", true),
		}},
		{ID: "n3", Name: "other", Services: []view.Service{
			vipService("s-secret", "secret", "10.0.3.2"),
		}, Endpoints: []view.Endpoint{
			ep("secret.1.iii", "s-secret", "10.0.3.10", true),
		}},
		{ID: "n4", Name: "ingress", Ingress: true, Services: []view.Service{
			vipService("s-web", "web", "10.255.0.5"),
			vipService("s-pub", "published", "10.255.0.6"),
		}, Endpoints: []view.Endpoint{
			ep("web.1.aaa", "s-web", "10.255.0.10", true),
		}},
		{ID: "n5", Name: "private", Internal: true, Services: []view.Service{
			vipService("s-vault", "vault", "10.0.5.2"),
		}},
	}}
}

func tablesOf(v *view.Node) map[string]*table {
	tables := map[string]*table{}
	for _, n := range v.Networks {
		tables[n.ID] = newTable(n)
	}
	return tables
}

func query(name string, qtype uint16) *dns.Msg {
	return new(dns.Msg).SetQuestion(name, qtype)
}

// answers gives the rcode of a reply and its records' data, sorted.
func answers(t *testing.T, m *dns.Msg) (string, []string) {
	t.Helper()
	var got []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			got = append(got, rr.A.String())
		case *dns.PTR:
			got = append(got, rr.Ptr)
		default:
			t.Errorf("got record %s, want A or PTR", rr)
		}
	}
	slices.Sort(got)
	return dns.RcodeToString[m.Rcode], got
}

func TestAnswer(t *testing.T) {
	const forward = "forward"
	tables := tablesOf(testView())
	onFrontBackIngress := newRecords(tables, []string{"n1", "n2", "n4"})
	onBackFirst := newRecords(tables, []string{"n2", "n1"})
	for _, tt := range []struct {
		name     string
		rec      *records
		ndotsSet bool
		q        *dns.Msg
		rcode    string // forward: not answered, goes upstream
		want     []string
	}{
		{"vip service to its VIP", nil, false, query("web.", dns.TypeA), "NOERROR", []string{"10.0.1.2"}},
		{"upper case", nil, false, query("WeB.", dns.TypeA), "NOERROR", []string{"10.0.1.2"}},
		{"without the trailing dot", nil, false, query("web", dns.TypeA), "NOERROR", []string{"10.0.1.2"}},
		{"service alias to the VIP", nil, false, query("www.", dns.TypeA), "NOERROR", []string{"10.0.1.2"}},
		{"tasks.SERVICE to running tasks only", nil, false, query("tasks.web.", dns.TypeA), "NOERROR", []string{"10.0.1.10", "10.0.1.11"}},
		{"tasks.ALIAS to running tasks", nil, false, query("tasks.www.", dns.TypeA), "NOERROR", []string{"10.0.1.10", "10.0.1.11"}},
		{"dnsrr service to running tasks only", nil, false, query("db.", dns.TypeA), "NOERROR", []string{"10.0.1.20"}},
		{"dnsrr alias", nil, false, query("database.", dns.TypeA), "NOERROR", []string{"10.0.1.20"}},
		{"tasks. of a dnsrr service", nil, false, query("tasks.db.", dns.TypeA), "NOERROR", []string{"10.0.1.20"}},
		{"dnsrr service with no running task: ours, no address", nil, false, query("idle.", dns.TypeA), "NOERROR", nil},
		{"tasks. of a service with no running task", nil, false, query("tasks.idle.", dns.TypeA), "NOERROR", nil},
		{"vip service without a VIP yet to its tasks", nil, false, query("pending.", dns.TypeA), "NOERROR", []string{"10.0.1.40"}},
		{"container name", nil, false, query("web.1.aaa.", dns.TypeA), "NOERROR", []string{"10.0.1.10"}},
		{"container alias", nil, false, query("web-one.", dns.TypeA), "NOERROR", []string{"10.0.1.10"}},
		{"starting container not named", nil, false, query("web.3.ccc.", dns.TypeA), forward, nil},
		{"name on a network the container is not on", nil, false, query("secret.", dns.TypeA), forward, nil},
		{"tasks. on a network the container is not on", nil, false, query("tasks.secret.", dns.TypeA), forward, nil},
		{"NAME.NETWORK on that network", nil, false, query("web.back.", dns.TypeA), "NOERROR", []string{"10.0.2.3"}},
		{"NAME.NETWORK case-insensitive", nil, false, query("API.Back", dns.TypeA), "NOERROR", []string{"10.0.2.2"}},
		{"container name with its network", nil, false, query("web.1.aaa.front.", dns.TypeA), "NOERROR", []string{"10.0.1.10"}},
		{"NAME.NETWORK of a network the container is not on", nil, false, query("secret.other.", dns.TypeA), forward, nil},
		{"NAME.NETWORK where the name is on another network", nil, false, query("api.front.", dns.TypeA), forward, nil},
		{"search-domain suffix not ours", nil, false, query("web.example.com.", dns.TypeA), forward, nil},
		{"first network wins", onBackFirst, false, query("web.", dns.TypeA), "NOERROR", []string{"10.0.2.3"}},
		{"ingress names not answered", onFrontBackIngress, false, query("published.", dns.TypeA), forward, nil},
		{"NAME.ingress not answered", onFrontBackIngress, false, query("web.ingress.", dns.TypeA), forward, nil},
		{"unknown name", nil, false, query("example.org.", dns.TypeA), forward, nil},
		{"AAAA of a known name: no records", nil, false, query("web.", dns.TypeAAAA), "NOERROR", nil},
		{"AAAA of a container name: no records", nil, false, query("web.1.aaa.", dns.TypeAAAA), "NOERROR", nil},
		{"AAAA of an unknown name", nil, false, query("example.org.", dns.TypeAAAA), forward, nil},
		{"MX of a known name: no records", nil, false, query("web.", dns.TypeMX), "NOERROR", nil},
		{"TXT of a known name goes upstream", nil, false, query("web.", dns.TypeTXT), forward, nil},
		{"SRV goes upstream", nil, false, query("_http._tcp.web.", dns.TypeSRV), forward, nil},
		{"class CHAOS goes upstream", nil, false, func() *dns.Msg {
			m := query("web.", dns.TypeA)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		}(), forward, nil},
		{"PTR of a VIP to the service", nil, false, query("2.1.0.10.in-addr.arpa.", dns.TypePTR), "NOERROR", []string{"web.front."}},
		{"PTR of a task to its container name", nil, false, query("10.1.0.10.in-addr.arpa.", dns.TypePTR), "NOERROR", []string{"web.1.aaa.front."}},
		{"PTR upper case", nil, false, query("11.1.0.10.IN-ADDR.ARPA.", dns.TypePTR), "NOERROR", []string{"web.2.bbb.front."}},
		{"PTR of a VIP on the second network", nil, false, query("2.2.0.10.in-addr.arpa.", dns.TypePTR), "NOERROR", []string{"api.back."}},
		{"PTR of a starting task", nil, false, query("12.1.0.10.in-addr.arpa.", dns.TypePTR), forward, nil},
		{"PTR on a network the container is not on", nil, false, query("10.3.0.10.in-addr.arpa.", dns.TypePTR), forward, nil},
		{"PTR on ingress", onFrontBackIngress, false, query("5.0.255.10.in-addr.arpa.", dns.TypePTR), forward, nil},
		{"PTR of a partial name", nil, false, query("1.0.10.in-addr.arpa.", dns.TypePTR), forward, nil},
		{"PTR of an IPv6 name", nil, false, query("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", dns.TypePTR), forward, nil},
		{"ndots set: unknown single label answered empty", nil, true, query("nothere.", dns.TypeA), "NOERROR", nil},
		{"ndots set: AAAA of unknown single label answered empty", nil, true, query("nothere.", dns.TypeAAAA), "NOERROR", nil},
		{"ndots set: dotted name goes upstream", nil, true, query("example.org.", dns.TypeA), forward, nil},
		{"ndots set: known name answered", nil, true, query("web.", dns.TypeA), "NOERROR", []string{"10.0.1.2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rec
			if rec == nil {
				rec = newRecords(tables, []string{"n1", "n2"})
			}
			reply := answer(rec, tt.ndotsSet, tt.q)
			if tt.rcode == forward {
				if reply != nil {
					t.Fatalf("got reply %v, want the query forwarded", reply)
				}
				return
			}
			if reply == nil {
				t.Fatalf("got the query forwarded, want %s %v", tt.rcode, tt.want)
			}
			rcode, got := answers(t, reply)
			if rcode != tt.rcode || !slices.Equal(got, tt.want) {
				t.Fatalf("got %s %v, want %s %v", rcode, got, tt.rcode, tt.want)
			}
			if reply.Id != tt.q.Id || !reply.Response || !reply.RecursionAvailable || reply.Question[0] != tt.q.Question[0] {
				t.Fatalf("got header %+v question %v, want a response to id %d with RA and the question", reply.MsgHdr, reply.Question, tt.q.Id)
			}
			for _, rr := range reply.Answer {
				if h := rr.Header(); h.Name != tt.q.Question[0].Name || h.Ttl != ttl {
					t.Fatalf("got record %s, want the question's name %q and TTL %d", rr, tt.q.Question[0].Name, ttl)
				}
			}
		})
	}
}

func TestRecordsEgress(t *testing.T) {
	tables := tablesOf(testView())
	for _, tt := range []struct {
		name     string
		networks []string
		want     bool
	}{
		{"overlay", []string{"n1"}, true},
		{"internal only", []string{"n5"}, false},
		{"internal and overlay", []string{"n5", "n1"}, true},
		{"networks not in the view yet", []string{"unknown"}, false},
		{"none", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := newRecords(tables, tt.networks).egress; got != tt.want {
				t.Fatalf("got egress %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAnswerFitsTheClient(t *testing.T) {
	n := view.Network{ID: "n1", Name: "front", Services: []view.Service{dnsrrService("s-big", "big")}}
	for i := range 100 {
		n.Endpoints = append(n.Endpoints, ep(fmt.Sprintf("big.%d.x", i+1), "s-big", fmt.Sprintf("10.0.1.%d", i+10), true))
	}
	rec := newRecords(map[string]*table{"n1": newTable(n)}, []string{"n1"})
	withEDNS := query("big.", dns.TypeA)
	withEDNS.SetEdns0(4096, false)
	for _, tt := range []struct {
		name          string
		q             *dns.Msg
		tcp           bool
		wantMax       int
		wantAnswers   int // 0: fewer than all
		wantTruncated bool
	}{
		{"UDP without EDNS0", query("big.", dns.TypeA), false, dns.MinMsgSize, 0, true},
		{"UDP with EDNS0", withEDNS, false, 4096, 100, false},
		{"TCP", query("big.", dns.TypeA), true, dns.MaxMsgSize, 100, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reply := fit(answer(rec, false, tt.q), tt.q, tt.tcp)
			b, err := reply.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > tt.wantMax {
				t.Fatalf("got %d bytes, want at most %d", len(b), tt.wantMax)
			}
			if reply.Truncated != tt.wantTruncated {
				t.Fatalf("got TC %v, want %v", reply.Truncated, tt.wantTruncated)
			}
			if tt.wantAnswers > 0 && len(reply.Answer) != tt.wantAnswers {
				t.Fatalf("got %d answers, want %d", len(reply.Answer), tt.wantAnswers)
			}
			if tt.wantAnswers == 0 && (len(reply.Answer) == 0 || len(reply.Answer) >= 100) {
				t.Fatalf("got %d answers, want some but not all", len(reply.Answer))
			}
		})
	}
}

func TestSameNames(t *testing.T) {
	base := testView().Networks[0]
	for _, tt := range []struct {
		name   string
		change func(n *view.Network)
		same   bool
	}{
		{"nothing", func(*view.Network) {}, true},
		{"peers and ports only", func(n *view.Network) {
			n.Peers = []view.Peer{{NodeID: "node2", Addr: netip.MustParseAddr("192.0.2.2")}}
			n.Services[0].Ports = []swarm.PortConfig{{TargetPort: 80}}
			n.Endpoints[0].NodeID = "node2"
		}, true},
		{"a task starts running", func(n *view.Network) { n.Endpoints[2].Running = true }, false},
		{"an endpoint goes", func(n *view.Network) { n.Endpoints = n.Endpoints[1:] }, false},
		{"a service alias", func(n *view.Network) { n.Services[0].Aliases = []string{"w3"} }, false},
		{"a VIP", func(n *view.Network) { n.Services[0].VIP = netip.MustParseAddr("10.0.1.3") }, false},
		{"the mode", func(n *view.Network) { n.Services[0].Mode = swarm.ResolutionModeDNSRR }, false},
		{"the network's name", func(n *view.Network) { n.Name = "frontend" }, false},
		{"internal", func(n *view.Network) { n.Internal = true }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := testView().Networks[0]
			tt.change(&n)
			if got := sameNames(base, n); got != tt.same {
				t.Fatalf("got same %v, want %v", got, tt.same)
			}
		})
	}
}
