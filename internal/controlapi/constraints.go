package controlapi

import (
	"regexp"
	"strings"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Placement constraints are checked with SwarmKit's grammar and messages
// ("node.role==manager", "node.labels.zone != east"); the scheduler
// evaluates them.

var (
	constraintKey   = regexp.MustCompile(`^(?i)[a-z_][a-z0-9\-_.]+$`)
	constraintValue = regexp.MustCompile(`^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$`)
)

// constraint is one parsed placement constraint.
type constraint struct {
	key, op, value string
}

func parseConstraints(exprs []string) ([]constraint, error) {
	out := make([]constraint, 0, len(exprs))
	for _, e := range exprs {
		c, err := parseConstraint(e)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseConstraint(e string) (constraint, error) {
	// "==" is tried first, so "a!==b" reads as key "a!" (refused) rather
	// than value "=b": the same reading as SwarmKit.
	for _, op := range []string{"==", "!="} {
		key, value, ok := strings.Cut(e, op)
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !constraintKey.MatchString(key) {
			return constraint{}, errdefs.Invalid("key '%s' is invalid", key)
		}
		if !constraintValue.MatchString(value) {
			return constraint{}, errdefs.Invalid("value '%s' is invalid", value)
		}
		return constraint{key: key, op: op, value: value}, nil
	}
	return constraint{}, errdefs.Invalid("constraint expected one operator from ==, !=")
}
