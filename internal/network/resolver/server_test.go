package resolver

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"

	"github.com/shoal-project/shoal/internal/network/view"
)

// clientTimeout is how long a test client waits for a reply: only a bound
// so that a broken server fails the test instead of hanging it.
const clientTimeout = 20 * time.Second

// upstreamServer is a fake nameserver on the test namespace's loopback.
type upstreamServer struct {
	addr    netip.AddrPort
	queries atomic.Int64
}

// startUpstream serves handle over UDP and TCP on one port of 127.0.0.1.
func startUpstream(t *testing.T, handle func(w dns.ResponseWriter, q *dns.Msg)) *upstreamServer {
	t.Helper()
	u := &upstreamServer{}
	pc, l := listenPair(t)
	u.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		u.queries.Add(1)
		handle(w, q)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
	return u
}

// listenPair opens a UDP socket and a TCP listener on the same port of
// 127.0.0.1.
func listenPair(t *testing.T) (*net.UDPConn, *net.TCPListener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: pc.LocalAddr().(*net.UDPAddr).Port})
		if err != nil {
			pc.Close()
			continue
		}
		return pc, l
	}
	t.Fatal("found no port free for both UDP and TCP")
	return nil, nil
}

// answerWith replies to every query with the addresses.
func answerWith(addrs ...string) func(w dns.ResponseWriter, q *dns.Msg) {
	return func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg).SetReply(q)
		for _, a := range addrs {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.ParseIP(a),
			})
		}
		w.WriteMsg(m)
	}
}

func rcodeOnly(rcode int) func(w dns.ResponseWriter, q *dns.Msg) {
	return func(w dns.ResponseWriter, q *dns.Msg) {
		w.WriteMsg(new(dns.Msg).SetRcode(q, rcode))
	}
}

// testState is the state of a container on the front and back networks
// of testView, forwarding to ups.
func testState(ups ...netip.AddrPort) *state {
	st := &state{rec: newRecords(tablesOf(testView()), []string{"n1", "n2"})}
	for _, u := range ups {
		st.upstreams = append(st.upstreams, upstream{addr: u})
	}
	return st
}

// startServer serves st on the test namespace's loopback, as a
// container's server would on 127.0.0.11.
func startServer(t *testing.T, shared chan struct{}, st *state) (*server, netip.AddrPort) {
	t.Helper()
	pc, l := listenPair(t)
	if shared == nil {
		shared = make(chan struct{}, maxSharedForwards)
	}
	s := newServer(slog.New(slog.DiscardHandler), netns.None(), pc, l, shared, 10*time.Second, st)
	t.Cleanup(s.close)
	return s, pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func ask(t *testing.T, network string, addr netip.AddrPort, q *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: clientTimeout}
	r, _, err := c.Exchange(q, addr.String())
	if err != nil {
		t.Fatalf("%s query %s: %v", network, q.Question[0].Name, err)
	}
	if r.Id != q.Id {
		t.Fatalf("got reply id %d, want %d", r.Id, q.Id)
	}
	return r
}

// receive waits for n signals on ch, failing the test if they do not come
// within clientTimeout.
func receive(t *testing.T, ch <-chan struct{}, n int) {
	t.Helper()
	timeout := time.After(clientTimeout)
	for i := range n {
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("got %d of %d signals", i, n)
		}
	}
}

func wantReply(t *testing.T, r *dns.Msg, rcode string, want ...string) {
	t.Helper()
	gotRcode, got := answers(t, r)
	slices.Sort(want)
	if gotRcode != rcode || !slices.Equal(got, want) {
		t.Fatalf("got %s %v, want %s %v", gotRcode, got, rcode, want)
	}
}

func TestServerAnswersAndForwards(t *testing.T) {
	up := startUpstream(t, answerWith("192.0.2.1"))
	s, addr := startServer(t, nil, testState(up.addr))
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			wantReply(t, ask(t, network, addr, query("web.", dns.TypeA)), "NOERROR", "10.0.1.2")
			wantReply(t, ask(t, network, addr, query("tasks.web.", dns.TypeA)), "NOERROR", "10.0.1.10", "10.0.1.11")
			before := up.queries.Load()
			wantReply(t, ask(t, network, addr, query("example.org.", dns.TypeA)), "NOERROR", "192.0.2.1")
			if got := up.queries.Load() - before; got != 1 {
				t.Fatalf("got %d queries upstream, want 1", got)
			}
		})
	}
	t.Run("new records answer the next query", func(t *testing.T) {
		v := testView()
		v.Networks[0].Services[0].VIP = netip.MustParseAddr("10.0.1.99")
		st := *s.state.Load()
		st.rec = newRecords(tablesOf(v), []string{"n1", "n2"})
		s.state.Store(&st)
		wantReply(t, ask(t, "udp", addr, query("web.", dns.TypeA)), "NOERROR", "10.0.1.99")
	})
}

func TestServerForwardsOverTCPOnTruncation(t *testing.T) {
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("192.0.2.%d", i+1))
	}
	full := answerWith(many...)
	up := startUpstream(t, func(w dns.ResponseWriter, q *dns.Msg) {
		if w.LocalAddr().Network() == "udp" {
			m := new(dns.Msg).SetReply(q)
			m.Truncated = true
			w.WriteMsg(m)
			return
		}
		full(w, q)
	})
	_, addr := startServer(t, nil, testState(up.addr))

	r := ask(t, "tcp", addr, query("big.example.", dns.TypeA))
	if len(r.Answer) != 100 || r.Truncated {
		t.Fatalf("over TCP got %d answers, TC %v; want 100, no TC", len(r.Answer), r.Truncated)
	}
	r = ask(t, "udp", addr, query("big.example.", dns.TypeA))
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) == 100 {
		t.Fatalf("over UDP got %d answers, TC %v; want some, cut to 512 bytes with TC", len(r.Answer), r.Truncated)
	}
}

func TestServerUpstreamRules(t *testing.T) {
	closedPort := func(t *testing.T) netip.AddrPort {
		pc, l := listenPair(t)
		a := pc.LocalAddr().(*net.UDPAddr).AddrPort()
		pc.Close()
		l.Close()
		return a
	}
	for _, tt := range []struct {
		name      string
		upstreams func(t *testing.T) []*upstreamServer
		extra     func(t *testing.T) []netip.AddrPort
		internal  bool
		want      string
		wantAsked []int64
	}{
		{"SERVFAIL goes to the next", func(t *testing.T) []*upstreamServer {
			return []*upstreamServer{startUpstream(t, rcodeOnly(dns.RcodeServerFailure)), startUpstream(t, answerWith("192.0.2.7"))}
		}, nil, false, "NOERROR", []int64{1, 1}},
		{"REFUSED goes to the next", func(t *testing.T) []*upstreamServer {
			return []*upstreamServer{startUpstream(t, rcodeOnly(dns.RcodeRefused)), startUpstream(t, answerWith("192.0.2.7"))}
		}, nil, false, "NOERROR", []int64{1, 1}},
		{"NXDOMAIN is an answer", func(t *testing.T) []*upstreamServer {
			return []*upstreamServer{startUpstream(t, rcodeOnly(dns.RcodeNameError)), startUpstream(t, answerWith("192.0.2.7"))}
		}, nil, false, "NXDOMAIN", []int64{1, 0}},
		{"all failing: SERVFAIL", func(t *testing.T) []*upstreamServer {
			return []*upstreamServer{startUpstream(t, rcodeOnly(dns.RcodeServerFailure))}
		}, nil, false, "SERVFAIL", []int64{1}},
		{"unreachable goes to the next", func(t *testing.T) []*upstreamServer {
			return []*upstreamServer{startUpstream(t, answerWith("192.0.2.7"))}
		}, func(t *testing.T) []netip.AddrPort { return []netip.AddrPort{closedPort(t)} }, false, "NOERROR", []int64{1}},
		{"no upstream: SERVFAIL", func(t *testing.T) []*upstreamServer { return nil }, nil, false, "SERVFAIL", nil},
		{"internal networks only: nothing leaves", func(t *testing.T) []*upstreamServer {
			return []*upstreamServer{startUpstream(t, answerWith("192.0.2.7"))}
		}, nil, true, "SERVFAIL", []int64{0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ups := tt.upstreams(t)
			var addrs []netip.AddrPort
			if tt.extra != nil {
				addrs = tt.extra(t)
			}
			for _, u := range ups {
				addrs = append(addrs, u.addr)
			}
			st := testState(addrs...)
			if tt.internal {
				st.rec = newRecords(tablesOf(testView()), []string{"n5"})
			}
			_, addr := startServer(t, nil, st)
			r := ask(t, "udp", addr, query("example.org.", dns.TypeA))
			if got := dns.RcodeToString[r.Rcode]; got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			for i, u := range ups {
				if got := u.queries.Load(); got != tt.wantAsked[i] {
					t.Fatalf("upstream %d got %d queries, want %d", i, got, tt.wantAsked[i])
				}
			}
		})
	}
}

func TestServerInvalidQueries(t *testing.T) {
	_, addr := startServer(t, nil, testState())
	two := query("web.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "db.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	wantReply(t, ask(t, "udp", addr, two), "FORMERR")
	notify := query("web.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	wantReply(t, ask(t, "udp", addr, notify), "NOTIMP")

	// Garbage and replies get nothing back; the next query is answered.
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reply, _ := new(dns.Msg).SetReply(query("web.", dns.TypeA)).Pack()
	valid, _ := query("web.", dns.TypeA).Pack()
	for _, b := range [][]byte{{1, 2, 3}, reply, valid} {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(clientTimeout))
	buf := make([]byte, dns.MaxMsgSize)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := new(dns.Msg)
	if err := got.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	wantReply(t, got, "NOERROR", "10.0.1.2")
}

// TestServerBoundsForwarding fills a container's forwarding slots with
// queries an upstream never answers: further forwarded queries are
// refused at once, and names of the swarm are still answered, over UDP
// and TCP.
func TestServerBoundsForwarding(t *testing.T) {
	release := make(chan struct{})
	received := make(chan struct{}, maxForwards+1)
	up := startUpstream(t, func(w dns.ResponseWriter, q *dns.Msg) {
		received <- struct{}{}
		<-release
		answerWith("192.0.2.9")(w, q)
	})
	t.Cleanup(func() { close(release) })
	_, addr := startServer(t, nil, testState(up.addr))

	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range maxForwards {
		q := query(fmt.Sprintf("slow%d.example.", i), dns.TypeA)
		b, _ := q.Pack()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	receive(t, received, maxForwards)
	wantReply(t, ask(t, "udp", addr, query("one.more.example.", dns.TypeA)), "REFUSED")
	wantReply(t, ask(t, "udp", addr, query("web.", dns.TypeA)), "NOERROR", "10.0.1.2")
	wantReply(t, ask(t, "tcp", addr, query("db.", dns.TypeA)), "NOERROR", "10.0.1.20")
	if got := up.queries.Load(); got != maxForwards {
		t.Fatalf("upstream got %d queries, want %d", got, maxForwards)
	}
}

// TestServerBoundsForwardingOnTheNode: one container taking every
// node-wide slot leaves other containers' forwarded queries refused, not
// queued, and their own names answered.
func TestServerBoundsForwardingOnTheNode(t *testing.T) {
	release := make(chan struct{})
	received := make(chan struct{}, 4)
	up := startUpstream(t, func(w dns.ResponseWriter, q *dns.Msg) {
		received <- struct{}{}
		<-release
		answerWith("192.0.2.9")(w, q)
	})
	t.Cleanup(func() { close(release) })
	shared := make(chan struct{}, 2)
	_, busy := startServer(t, shared, testState(up.addr))
	_, other := startServer(t, shared, testState(up.addr))

	c, err := net.Dial("udp", busy.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range cap(shared) {
		b, _ := query(fmt.Sprintf("slow%d.example.", i), dns.TypeA).Pack()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	receive(t, received, cap(shared))
	wantReply(t, ask(t, "udp", other, query("example.org.", dns.TypeA)), "REFUSED")
	wantReply(t, ask(t, "udp", other, query("web.", dns.TypeA)), "NOERROR", "10.0.1.2")
}

// TestServerSlowTCPClients: clients holding every TCP slot with half a
// query block neither UDP nor, once one gives up, a new TCP client.
func TestServerSlowTCPClients(t *testing.T) {
	_, addr := startServer(t, nil, testState())
	var stalled []net.Conn
	for range maxTCPConns {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write(binary.BigEndian.AppendUint16(nil, 40)[:1]); err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
	}
	wantReply(t, ask(t, "udp", addr, query("web.", dns.TypeA)), "NOERROR", "10.0.1.2")
	stalled[0].Close()
	wantReply(t, ask(t, "tcp", addr, query("db.", dns.TypeA)), "NOERROR", "10.0.1.20")
}

// TestServerCloseEndsForwards: closing a server gives up the forwards in
// flight instead of waiting for their upstream.
func TestServerCloseEndsForwards(t *testing.T) {
	received := make(chan struct{}, 1)
	release := make(chan struct{})
	up := startUpstream(t, func(w dns.ResponseWriter, q *dns.Msg) {
		received <- struct{}{}
		<-release
	})
	t.Cleanup(func() { close(release) })
	pc, l := listenPair(t)
	s := newServer(slog.New(slog.DiscardHandler), netns.None(), pc, l, make(chan struct{}, 1), time.Hour, testState(up.addr))
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, _ := query("slow.example.", dns.TypeA).Pack()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	receive(t, received, 1)
	s.close()
	if _, err := net.ListenUDP("udp4", pc.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatalf("got %v binding the server's address after close, want it free", err)
	}
}

func TestManagerUpdateRebuildsOnlyWhatChanged(t *testing.T) {
	m := New(Config{})
	defer m.Close()
	m.Update(testView())
	front, back := m.tables["n1"], m.tables["n2"]

	v := testView()
	v.Networks[0].Peers = []view.Peer{{NodeID: "node2", Addr: netip.MustParseAddr("192.0.2.2")}}
	m.Update(v)
	if m.tables["n1"] != front || m.tables["n2"] != back {
		t.Fatalf("a view with only new peers rebuilt tables")
	}

	v = testView()
	v.Networks[0].Endpoints[2].Running = true
	m.Update(v)
	if m.tables["n1"] == front || m.tables["n2"] != back {
		t.Fatalf("got front rebuilt %v, back rebuilt %v; want only front", m.tables["n1"] != front, m.tables["n2"] != back)
	}

	m.Update(nil)
	if len(m.tables) != 0 {
		t.Fatalf("got %d tables after an empty view, want none", len(m.tables))
	}
}

// bigView is a node's view of 20 networks, each with 50 services of 10
// running tasks.
func bigView() *view.Node {
	v := &view.Node{NodeID: "node1"}
	for n := range 20 {
		nw := view.Network{ID: fmt.Sprintf("n%02d", n), Name: fmt.Sprintf("net%d", n)}
		for s := range 50 {
			id := fmt.Sprintf("s%d-%d", n, s)
			nw.Services = append(nw.Services, vipService(id, fmt.Sprintf("svc%d", s), fmt.Sprintf("10.%d.%d.1", n, s)))
			for i := range 10 {
				nw.Endpoints = append(nw.Endpoints, ep(fmt.Sprintf("svc%d.%d.x", s, i+1), id, fmt.Sprintf("10.%d.%d.%d", n, s, i+10), true))
			}
		}
		v.Networks = append(v.Networks, nw)
	}
	return v
}

func BenchmarkAnswer(b *testing.B) {
	v := bigView()
	rec := newRecords(tablesOf(v), []string{"n00", "n01", "n02"})
	q := query("tasks.svc42.net2.", dns.TypeA)
	for b.Loop() {
		if r := answer(rec, false, q); len(r.Answer) != 10 {
			b.Fatalf("got %d answers, want 10", len(r.Answer))
		}
	}
}

// BenchmarkUpdate is the cost of a new view on a node with 200 containers:
// unchanged, or with one task started on one network.
func BenchmarkUpdate(b *testing.B) {
	for _, changed := range []bool{false, true} {
		b.Run(fmt.Sprintf("changed=%v", changed), func(b *testing.B) {
			m := New(Config{})
			for i := range 200 {
				nets := []string{fmt.Sprintf("n%02d", i%20), fmt.Sprintf("n%02d", (i+1)%20)}
				m.servers[fmt.Sprint(i)] = &managed{server: &server{}, networkIDs: nets}
				m.servers[fmt.Sprint(i)].state.Store(&state{rec: &records{}})
			}
			views := []*view.Node{bigView(), bigView()}
			if changed {
				views[1].Networks[3].Endpoints[7].Running = false
			}
			m.Update(views[0])
			i := 0
			for b.Loop() {
				i++
				m.Update(views[i%2])
			}
		})
	}
}

// BenchmarkServerUDP is one client's round trips for a name of the swarm
// over loopback.
func BenchmarkServerUDP(b *testing.B) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := newServer(slog.New(slog.DiscardHandler), netns.None(), pc, l, make(chan struct{}, 1), time.Second, testState())
	defer s.close()
	c, err := dns.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	q := query("tasks.web.", dns.TypeA)
	for b.Loop() {
		if err := c.WriteMsg(q); err != nil {
			b.Fatal(err)
		}
		if r, err := c.ReadMsg(); err != nil || len(r.Answer) != 2 {
			b.Fatalf("got %v, %v; want 2 answers", r, err)
		}
	}
}
