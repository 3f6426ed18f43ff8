// Package filters parses and matches the Docker Engine API's "filters"
// query parameter: a JSON object from filter name to values, in the map
// form the docker CLI sends ({"name":{"web":true}}) or the list form
// docker-py sends ({"name":["web"]}).
package filters

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Args is a parsed filters parameter: for each filter name, its set of
// values. The zero Args has no filters.
type Args struct {
	fields map[string]map[string]bool
}

// New returns Args holding the given name/value pairs, for callers that
// build filters in code.
func New(pairs ...[2]string) Args {
	a := Args{fields: map[string]map[string]bool{}}
	for _, p := range pairs {
		a.Add(p[0], p[1])
	}
	return a
}

// Parse decodes the filters parameter. An empty string is no filters.
func Parse(s string) (Args, error) {
	a := Args{fields: map[string]map[string]bool{}}
	if s == "" {
		return a, nil
	}
	var m map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &m); err == nil {
		for k, vs := range m {
			for v, on := range vs {
				if on {
					a.Add(k, v)
				}
			}
			if a.fields[k] == nil {
				a.fields[k] = map[string]bool{}
			}
		}
		return a, nil
	}
	var l map[string][]string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return Args{}, errdefs.Invalid("invalid filter: %s is neither {\"name\":{\"value\":true}} nor {\"name\":[\"value\"]}", s)
	}
	for k, vs := range l {
		if a.fields[k] == nil {
			a.fields[k] = map[string]bool{}
		}
		for _, v := range vs {
			a.Add(k, v)
		}
	}
	return a, nil
}

// Add adds a value to a filter.
func (a *Args) Add(name, value string) {
	if a.fields == nil {
		a.fields = map[string]map[string]bool{}
	}
	if a.fields[name] == nil {
		a.fields[name] = map[string]bool{}
	}
	a.fields[name][value] = true
}

// Len returns the number of filter names given.
func (a Args) Len() int { return len(a.fields) }

// Contains reports whether the filter name was given.
func (a Args) Contains(name string) bool {
	_, ok := a.fields[name]
	return ok
}

// Get returns the values of a filter, sorted.
func (a Args) Get(name string) []string {
	vs := make([]string, 0, len(a.fields[name]))
	for v := range a.fields[name] {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

// Map returns the filters as a map from name to sorted values.
func (a Args) Map() map[string][]string {
	m := make(map[string][]string, len(a.fields))
	for k := range a.fields {
		m[k] = a.Get(k)
	}
	return m
}

// Validate refuses filter names not in accepted, with dockerd's message.
func (a Args) Validate(accepted ...string) error {
	names := make([]string, 0, len(a.fields))
	for k := range a.fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Contains(accepted, k) {
			return errdefs.Invalid("invalid filter '%s'", k)
		}
	}
	return nil
}

// Exact reports whether value is one of the filter's values; a filter not
// given matches everything.
func (a Args) Exact(name, value string) bool {
	vs, ok := a.fields[name]
	if !ok || len(vs) == 0 {
		return true
	}
	return vs[value]
}

// Prefix reports whether one of the filter's values is a prefix of value;
// a filter not given matches everything.
func (a Args) Prefix(name, value string) bool {
	vs, ok := a.fields[name]
	if !ok || len(vs) == 0 {
		return true
	}
	for v := range vs {
		if strings.HasPrefix(value, v) {
			return true
		}
	}
	return false
}

// Labels reports whether labels satisfy every value of the filter: "key"
// (or "key=") needs the label, "key=value" needs it with that value. A filter not
// given matches everything.
func (a Args) Labels(name string, labels map[string]string) bool {
	for v := range a.fields[name] {
		key, want, _ := strings.Cut(v, "=")
		got, ok := labels[key]
		if !ok || (want != "" && got != want) {
			return false
		}
	}
	return true
}

// NotLabels is the negated label filter ("label!"): no value of the
// filter name may match labels, where "key" matches the label and
// "key=value" the label with that value.
func (a Args) NotLabels(name string, labels map[string]string) bool {
	for v := range a.fields[name] {
		k, want, hasValue := strings.Cut(v, "=")
		if got, ok := labels[k]; ok && (!hasValue || got == want) {
			return false
		}
	}
	return true
}

// Until reads the prune filter "until": a Unix time, an RFC 3339 date or a
// duration before now. The zero time is no filter.
func (a Args) Until(now time.Time) (time.Time, error) {
	vs := a.Get("until")
	if len(vs) == 0 {
		return time.Time{}, nil
	}
	if len(vs) > 1 {
		return time.Time{}, errdefs.Invalid("more than one until filter specified")
	}
	if d, err := time.ParseDuration(vs[0]); err == nil {
		return now.Add(-d), nil
	}
	if secs, err := strconv.ParseFloat(vs[0], 64); err == nil {
		return time.Unix(0, int64(secs*float64(time.Second))), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, vs[0]); err == nil {
		return t, nil
	}
	return time.Time{}, errdefs.Invalid("invalid until filter %q: want a Unix timestamp, a date or a duration", vs[0])
}
