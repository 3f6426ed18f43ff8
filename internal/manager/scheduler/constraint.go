package scheduler

import (
	"net/netip"
	"regexp"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Constraint is one placement constraint, "key==value" or "key!=value".
// Keys are node.id, node.hostname, node.ip, node.role, node.platform.os,
// node.platform.arch, node.labels.KEY and engine.labels.KEY; any other
// key parses but matches no node, as in Docker.
type Constraint struct {
	Key   string
	Equal bool // == rather than !=
	Value string
}

var (
	constraintKey   = regexp.MustCompile(`^(?i)[a-z_][a-z0-9\-_.]+$`)
	constraintValue = regexp.MustCompile(`^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$`)
)

// ParseConstraints parses placement constraints. Errors are
// errdefs.Invalid with Docker's messages, so the API can validate specs
// with it.
func ParseConstraints(exprs []string) ([]Constraint, error) {
	out := make([]Constraint, 0, len(exprs))
	for _, e := range exprs {
		c, err := parseConstraint(e)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseConstraint(e string) (Constraint, error) {
	for _, op := range []string{"==", "!="} {
		key, value, ok := strings.Cut(e, op)
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !constraintKey.MatchString(key) {
			return Constraint{}, errdefs.Invalid("key '%s' is invalid", key)
		}
		if !constraintValue.MatchString(value) {
			return Constraint{}, errdefs.Invalid("value '%s' is invalid", value)
		}
		return Constraint{Key: key, Equal: op == "==", Value: value}, nil
	}
	return Constraint{}, errdefs.Invalid("constraint expected one operator from ==, !=")
}

const (
	nodeLabelPrefix   = "node.labels."
	engineLabelPrefix = "engine.labels."
)

// Matches reports whether node n satisfies c. Values compare without
// regard to case; label names are exact.
func (c Constraint) Matches(n *swarm.Node) bool {
	key := strings.ToLower(c.Key)
	switch {
	case key == "node.id":
		return c.match(n.ID)
	case key == "node.hostname":
		return c.match(n.Description.Hostname)
	case key == "node.role":
		return c.match(string(n.Spec.Role))
	case key == "node.platform.os":
		return c.match(n.Description.Platform.OS)
	case key == "node.platform.arch":
		return c.match(n.Description.Platform.Architecture)
	case key == "node.ip":
		return c.matchIP(n.Status.Addr)
	case len(key) > len(nodeLabelPrefix) && strings.HasPrefix(key, nodeLabelPrefix):
		return c.match(n.Spec.Labels[c.Key[len(nodeLabelPrefix):]])
	case len(key) > len(engineLabelPrefix) && strings.HasPrefix(key, engineLabelPrefix):
		return c.match(n.Description.Engine.Labels[c.Key[len(engineLabelPrefix):]])
	}
	return false
}

func (c Constraint) match(v string) bool {
	return strings.EqualFold(c.Value, v) == c.Equal
}

// matchIP compares the node's address with an address or a CIDR prefix;
// a value that is neither matches no node.
func (c Constraint) matchIP(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		var ap netip.AddrPort
		if ap, err = netip.ParseAddrPort(addr); err == nil {
			ip = ap.Addr()
		}
	}
	var in bool
	if want, werr := netip.ParseAddr(c.Value); werr == nil {
		in = err == nil && want == ip
	} else if p, perr := netip.ParsePrefix(c.Value); perr == nil {
		in = err == nil && p.Contains(ip)
	} else {
		return false
	}
	return in == c.Equal
}

// MatchAll reports whether n satisfies every constraint.
func MatchAll(cs []Constraint, n *swarm.Node) bool {
	for _, c := range cs {
		if !c.Matches(n) {
			return false
		}
	}
	return true
}

// NodeMatches reports whether node n satisfies the placement constraints
// of spec. Constraints that do not parse match no node.
func NodeMatches(spec swarm.TaskSpec, n *swarm.Node) bool {
	if spec.Placement == nil || len(spec.Placement.Constraints) == 0 {
		return true
	}
	cs, err := ParseConstraints(spec.Placement.Constraints)
	return err == nil && MatchAll(cs, n)
}
