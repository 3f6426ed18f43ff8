package resolver

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// ttl is the time to live of every answer of ours, in seconds. Docker
// gives 600 s, so a client that caches (nginx's resolver, dnsmasq,
// systemd-resolved, many language runtimes) keeps an address for ten
// minutes after its task is gone: the stale entries Swarm users meet
// after tasks move. These answers change whenever a task starts or stops,
// and the node learns of that well within a second; a TTL of 0 tells a
// cache not to keep the answer at all (RFC 1035 §3.2.1), so the next
// lookup sees the change. Asking again costs a round trip over the
// container's own loopback.
const ttl = 0

// answer is the reply to query q from the records, or nil when the name is
// not ours and the query goes to the upstream nameservers. ndotsSet is
// whether the container's resolv.conf sets ndots itself.
func answer(r *records, ndotsSet bool, q *dns.Msg) *dns.Msg {
	question := q.Question[0]
	if question.Qclass != dns.ClassINET {
		return nil
	}
	var reply *dns.Msg
	switch question.Qtype {
	case dns.TypeA:
		if addrs, ok := r.lookup(question.Name); ok {
			reply = replyTo(q)
			// Shuffled, as Docker does: clients take the first address,
			// so a dnsrr service spreads them over its tasks.
			for _, a := range shuffled(addrs) {
				reply.Answer = append(reply.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
					A:   a.AsSlice(),
				})
			}
		}
	case dns.TypeAAAA, dns.TypeMX:
		// The swarm's names have IPv4 addresses only. A known name
		// answers "no records of this type" rather than going upstream,
		// where some other host may have the name; for MX that is the
		// "implicit MX" of RFC 5321 §5.1, the client then asks for A.
		if _, ok := r.lookup(question.Name); ok {
			reply = replyTo(q)
		}
	case dns.TypePTR:
		if addr, ok := ptrAddr(question.Name); ok {
			if name, ok := r.reverse(addr); ok {
				reply = replyTo(q)
				reply.Answer = append(reply.Answer, &dns.PTR{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl},
					Ptr: name,
				})
			}
		}
	}
	if reply == nil && ndotsSet && (question.Qtype == dns.TypeA || question.Qtype == dns.TypeAAAA) &&
		!strings.Contains(strings.TrimSuffix(question.Name, "."), ".") {
		// Docker's rule: with ndots set by the user, a single-label name
		// we do not know gets an empty answer instead of going upstream,
		// so that the client goes on with its search domains.
		reply = replyTo(q)
	}
	return reply
}

// replyTo starts a successful reply to q. Recursion is available: what is
// not ours is forwarded.
func replyTo(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg).SetReply(q)
	m.RecursionAvailable = true
	if q.IsEdns0() != nil {
		m.SetEdns0(dns.DefaultMsgSize, false)
	}
	return m
}

func shuffled(addrs []netip.Addr) []netip.Addr {
	// A copy: addrs belongs to a table other servers read at once.
	s := slices.Clone(addrs)
	rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// ptrAddr gives the IPv4 address of a reverse name (4.3.2.10.in-addr.arpa.
// for 10.2.3.4). The swarm's addresses are IPv4 only, so other reverse
// names, and partial ones, are not ours.
func ptrAddr(name string) (netip.Addr, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	rev, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	labels := strings.Split(rev, ".")
	if len(labels) != 4 {
		return netip.Addr{}, false
	}
	slices.Reverse(labels)
	a, err := netip.ParseAddr(strings.Join(labels, "."))
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// replyLimit is the largest reply the client of q takes: 64 KiB over TCP;
// over UDP 512 bytes, or what its EDNS0 record offers.
func replyLimit(q *dns.Msg, tcp bool) int {
	if tcp {
		return dns.MaxMsgSize
	}
	size := dns.MinMsgSize
	if opt := q.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
		size = int(opt.UDPSize())
	}
	return size
}

// fit cuts reply down to what the client of q takes, setting TC when
// records had to go so that the client asks again over TCP.
func fit(reply, q *dns.Msg, tcp bool) *dns.Msg {
	reply.Truncate(replyLimit(q, tcp))
	return reply
}

// invalid is the reply to a query this server does not take at all, or
// nil for one it does: exactly one question, of the standard query
// opcode.
func invalid(q *dns.Msg) *dns.Msg {
	switch {
	case q.Opcode != dns.OpcodeQuery:
		return new(dns.Msg).SetRcode(q, dns.RcodeNotImplemented)
	case len(q.Question) != 1:
		return new(dns.Msg).SetRcodeFormatError(q)
	}
	return nil
}
