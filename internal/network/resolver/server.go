package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"
)

// Bounds on the work one container can give its server. Answers of ours
// are computed on the reading goroutine (a map lookup); only forwarding
// waits, and each forwarded query holds a slot until its upstream answers
// or the forward timeout passes. A query that finds no free slot is
// REFUSED at once, as Docker does once its own limit is reached.
const (
	// maxForwards is how many queries of one container may be forwarded
	// at once.
	maxForwards = 64
	// maxTCPConns is how many TCP connections one container may hold;
	// more wait in the listen backlog.
	maxTCPConns = 16
	// maxTCPQueries is how many queries one TCP connection may carry.
	maxTCPQueries = 128
	// tcpIdleTimeout is how long a TCP connection may take to send its
	// next query; tcpWriteTimeout how long a reply may take to leave.
	tcpIdleTimeout  = 8 * time.Second
	tcpWriteTimeout = 2 * time.Second
)

// state is what a server answers and forwards with, swapped whole.
type state struct {
	rec       *records
	ndotsSet  bool
	upstreams []upstream
}

// server is the DNS server of one container: a UDP socket and a TCP
// listener made in the container's namespace, served by goroutines of the
// daemon.
type server struct {
	log *slog.Logger
	// ns is the container's namespace, held open for the server's life to
	// reach the service's own nameservers from it; closed (netns.None) in
	// tests that serve on the daemon's loopback.
	ns  netns.NsHandle
	udp *net.UDPConn
	tcp net.Listener

	state atomic.Pointer[state]
	// forwardTimeout bounds the forwarding of one query, over every
	// upstream tried.
	forwardTimeout time.Duration
	// forwards and shared are slots for queries being forwarded: this
	// container's, and every container's on the node.
	forwards, shared chan struct{}
	conns            chan struct{}

	ctx    context.Context // done once the server closes
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newServer(log *slog.Logger, ns netns.NsHandle, udp *net.UDPConn, tcp net.Listener, shared chan struct{}, forwardTimeout time.Duration, st *state) *server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{
		log:            log,
		ns:             ns,
		udp:            udp,
		tcp:            tcp,
		forwardTimeout: forwardTimeout,
		forwards:       make(chan struct{}, maxForwards),
		shared:         shared,
		conns:          make(chan struct{}, maxTCPConns),
		ctx:            ctx,
		cancel:         cancel,
	}
	s.state.Store(st)
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	return s
}

// close stops serving: the sockets close, forwards in flight are given
// up, and close returns once every goroutine of the server has ended.
func (s *server) close() {
	s.cancel()
	s.udp.Close()
	s.tcp.Close()
	s.wg.Wait()
	if s.ns.IsOpen() {
		s.ns.Close()
	}
}

func (s *server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("resolver: read a UDP query", "err", err)
			continue
		}
		q := new(dns.Msg)
		if err := q.Unpack(buf[:n]); err != nil || q.Response {
			continue
		}
		s.handle(q, false, func(reply *dns.Msg) {
			b, err := reply.Pack()
			if err != nil {
				s.log.Debug("resolver: pack a reply", "err", err)
				return
			}
			s.udp.WriteToUDPAddrPort(b, from)
		})
	}
}

func (s *server) serveTCP() {
	defer s.wg.Done()
	for {
		select {
		case s.conns <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		c, err := s.tcp.Accept()
		if err != nil {
			<-s.conns
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("resolver: accept a TCP connection", "err", err)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.conns }()
			s.serveConn(c)
		}()
	}
}

// serveConn answers the queries of one TCP connection, one at a time: a
// client that wants more in parallel opens more connections or uses UDP.
func (s *server) serveConn(c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(s.ctx, func() { c.Close() })
	defer stop()
	var size [2]byte
	for range maxTCPQueries {
		c.SetReadDeadline(time.Now().Add(tcpIdleTimeout))
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		buf := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		q := new(dns.Msg)
		if err := q.Unpack(buf); err != nil || q.Response {
			return
		}
		ok := true
		s.handle(q, true, func(reply *dns.Msg) {
			b, err := reply.Pack()
			if err != nil || len(b) > dns.MaxMsgSize {
				ok = false
				return
			}
			c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
			if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)); err != nil {
				ok = false
			}
		})
		if !ok {
			return
		}
	}
}

// handle replies to q: at once when the name is ours, after forwarding
// otherwise. Over UDP the forwarding runs on a goroutine of its own, so
// the reading goroutine goes on with other queries; over TCP it runs on
// the connection's.
func (s *server) handle(q *dns.Msg, tcp bool, reply func(*dns.Msg)) {
	if r := invalid(q); r != nil {
		reply(r)
		return
	}
	st := s.state.Load()
	if r := answer(st.rec, st.ndotsSet, q); r != nil {
		reply(fit(r, q, tcp))
		return
	}
	if !s.acquire() {
		reply(new(dns.Msg).SetRcode(q, dns.RcodeRefused))
		return
	}
	if tcp {
		defer s.release()
		reply(fit(s.forward(st, q), q, tcp))
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.release()
		reply(fit(s.forward(st, q), q, tcp))
	}()
}

// acquire takes a forwarding slot of the container's and one of the
// node's, without waiting.
func (s *server) acquire() bool {
	select {
	case s.forwards <- struct{}{}:
	default:
		return false
	}
	select {
	case s.shared <- struct{}{}:
		return true
	default:
		<-s.forwards
		return false
	}
}

func (s *server) release() {
	<-s.shared
	<-s.forwards
}

// forward asks the upstream nameservers in turn and gives the first
// answer that is neither SERVFAIL nor REFUSED, or SERVFAIL. A container
// without egress asks only the nameservers reached from its own
// namespace, where its queries can go no further than it can.
func (s *server) forward(st *state, q *dns.Msg) *dns.Msg {
	var ups []upstream
	for _, u := range st.upstreams {
		if u.inContainer || st.rec.egress {
			ups = append(ups, u)
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.forwardTimeout)
	defer cancel()
	for i, u := range ups {
		// Each upstream left gets an equal share of the time left, so a
		// dead first nameserver does not take the whole budget.
		deadline, _ := ctx.Deadline()
		actx, acancel := context.WithTimeout(ctx, time.Until(deadline)/time.Duration(len(ups)-i))
		r, err := s.exchange(actx, u, q)
		acancel()
		if err != nil {
			s.log.Debug("resolver: forward a query", "upstream", u.addr, "question", q.Question[0].String(), "err", err)
			continue
		}
		if r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
			continue
		}
		r.Id = q.Id
		return r
	}
	return new(dns.Msg).SetRcode(q, dns.RcodeServerFailure)
}

// exchange asks u over UDP, and again over TCP when the answer was
// truncated.
func (s *server) exchange(ctx context.Context, u upstream, q *dns.Msg) (*dns.Msg, error) {
	r, err := s.exchangeOver(ctx, "udp", u, q)
	if err == nil && r.Truncated {
		return s.exchangeOver(ctx, "tcp", u, q)
	}
	return r, err
}

func (s *server) exchangeOver(ctx context.Context, network string, u upstream, q *dns.Msg) (*dns.Msg, error) {
	var (
		c   net.Conn
		err error
	)
	if u.inContainer && s.ns.IsOpen() {
		c, err = dialIn(ctx, s.ns, network, u.addr.String())
	} else {
		c, err = new(net.Dialer).DialContext(ctx, network, u.addr.String())
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	// A large buffer: some nameservers send more than the 512 bytes a
	// query without EDNS0 allows, and the reply is cut to what the
	// client takes afterwards.
	client := &dns.Client{Net: network, UDPSize: dns.MaxMsgSize, Timeout: s.forwardTimeout}
	r, _, err := client.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: c})
	return r, err
}
