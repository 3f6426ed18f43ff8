package container

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
)

// Candidate is what the filters of docker ps look at in a container.
type Candidate struct {
	ID       string
	Name     string // without the leading "/"
	Image    string // the image as asked (Config.Image)
	ImageID  string
	Labels   map[string]string
	State    containertypes.ContainerState
	ExitCode int
	Started  bool                        // it has run at least once
	Health   containertypes.HealthStatus // containertypes.NoHealthcheck without a check
	Created  time.Time
	Networks []string // the names and IDs of its networks
	Volumes  []string // its mounts' volume names, host paths and paths in the container
	Exposed  network.PortSet
	Bound    []network.Port // its container ports published on the host
	IsTask   bool           // it runs a swarm task
}

// ListFilter is the filters parameter of GET /containers/json, parsed.
type ListFilter struct {
	args      filters.Args
	names     []*regexp.Regexp
	ids       []*regexp.Regexp
	exited    []int
	ancestors []string // image IDs, and the names as given
	before    *time.Time
	since     *time.Time
	publish   []portRange
	expose    []portRange
}

// FilterNames are the filters docker ps accepts.
var FilterNames = []string{
	"ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task",
	"label", "label!", "name", "network", "publish", "since", "status", "volume",
}

// ParseListFilter checks filters with dockerd's messages. created gives
// the creation time of the container a before or since filter names;
// imageID the ID of the image an ancestor filter names (false when the
// node has no such image).
func ParseListFilter(args filters.Args, created func(idOrName string) (time.Time, error), imageID func(ref string) (string, bool)) (ListFilter, error) {
	if err := args.Validate(FilterNames...); err != nil {
		return ListFilter{}, err
	}
	f := ListFilter{args: args}
	for _, spec := range []struct {
		key string
		out *[]*regexp.Regexp
	}{{"name", &f.names}, {"id", &f.ids}} {
		for _, v := range args.Get(spec.key) {
			re, err := regexp.Compile(v)
			if err != nil {
				return ListFilter{}, errdefs.Invalid("invalid filter '%s=%s': %v", spec.key, v, err)
			}
			*spec.out = append(*spec.out, re)
		}
	}
	for _, v := range args.Get("status") {
		if err := containertypes.ValidateContainerState(containertypes.ContainerState(v)); err != nil {
			return ListFilter{}, errdefs.Invalid("invalid filter 'status=%s'", v)
		}
	}
	for _, v := range args.Get("health") {
		if err := containertypes.ValidateHealthStatus(containertypes.HealthStatus(v)); err != nil {
			return ListFilter{}, errdefs.Invalid("invalid filter 'health=%s'", v)
		}
	}
	for _, v := range args.Get("exited") {
		code, err := strconv.Atoi(v)
		if err != nil {
			return ListFilter{}, errdefs.Invalid("invalid filter 'exited=%s': not an exit code", v)
		}
		f.exited = append(f.exited, code)
	}
	for _, v := range args.Get("is-task") {
		if v != "true" && v != "false" {
			return ListFilter{}, errdefs.Invalid("invalid filter 'is-task=%s'", v)
		}
	}
	for _, v := range args.Get("isolation") {
		if v != "default" {
			return ListFilter{}, errdefs.Invalid("invalid filter 'isolation=%s': this node has only the default isolation", v)
		}
	}
	for _, v := range args.Get("ancestor") {
		f.ancestors = append(f.ancestors, v)
		if id, ok := imageID(v); ok {
			f.ancestors = append(f.ancestors, id)
		}
	}
	for _, spec := range []struct {
		key string
		out **time.Time
	}{{"before", &f.before}, {"since", &f.since}} {
		for _, v := range args.Get(spec.key) {
			t, err := created(v)
			if err != nil {
				return ListFilter{}, err
			}
			*spec.out = &t
		}
	}
	for _, spec := range []struct {
		key string
		out *[]portRange
	}{{"publish", &f.publish}, {"expose", &f.expose}} {
		for _, v := range args.Get(spec.key) {
			r, err := parsePortRange(v)
			if err != nil {
				return ListFilter{}, errdefs.Invalid("invalid filter '%s=%s': %v", spec.key, v, err)
			}
			*spec.out = append(*spec.out, r)
		}
	}
	return f, nil
}

// IncludesStopped reports whether the filters show containers that do
// not run without all=1, as dockerd's do: status, before and since.
func (f ListFilter) IncludesStopped() bool {
	return f.args.Contains("status") || f.before != nil || f.since != nil
}

// Match reports whether c passes every filter: one value of a filter
// must match (all values, for labels).
func (f ListFilter) Match(c Candidate) bool {
	a := f.args
	anyRe := func(res []*regexp.Regexp, values ...string) bool {
		if len(res) == 0 {
			return true
		}
		return slices.ContainsFunc(res, func(re *regexp.Regexp) bool {
			return slices.ContainsFunc(values, re.MatchString)
		})
	}
	if !anyRe(f.names, c.Name, "/"+c.Name) || !anyRe(f.ids, c.ID) {
		return false
	}
	if !a.Labels("label", c.Labels) || (a.Contains("label!") && len(a.Get("label!")) > 0 && a.Labels("label!", c.Labels)) {
		return false
	}
	if !a.Exact("status", string(c.State)) || !a.Exact("health", string(c.Health)) || !a.Exact("is-task", strconv.FormatBool(c.IsTask)) {
		return false
	}
	if len(f.exited) > 0 && (c.State == containertypes.StateRunning || !c.Started || !slices.Contains(f.exited, c.ExitCode)) {
		return false
	}
	if len(f.ancestors) > 0 && !slices.Contains(f.ancestors, c.Image) && !slices.Contains(f.ancestors, c.ImageID) {
		return false
	}
	if f.before != nil && !c.Created.Before(*f.before) {
		return false
	}
	if f.since != nil && !c.Created.After(*f.since) {
		return false
	}
	if a.Contains("network") && !slices.ContainsFunc(c.Networks, func(n string) bool { return a.Exact("network", n) }) {
		return false
	}
	if a.Contains("volume") && !slices.ContainsFunc(c.Volumes, func(v string) bool { return a.Exact("volume", v) }) {
		return false
	}
	if len(f.publish) > 0 && !slices.ContainsFunc(c.Bound, func(p network.Port) bool { return inRanges(f.publish, p) }) {
		return false
	}
	if len(f.expose) > 0 {
		exposed := false
		for p := range c.Exposed {
			exposed = exposed || inRanges(f.expose, p)
		}
		if !exposed {
			return false
		}
	}
	return true
}

// portRange is a publish or expose filter: START[-END][/PROTO].
type portRange struct {
	lo, hi uint16
	proto  network.IPProtocol // "" for any
}

func parsePortRange(s string) (portRange, error) {
	ports, proto, _ := strings.Cut(s, "/")
	lo, hi, isRange := strings.Cut(ports, "-")
	var r portRange
	var err error
	if r.lo, err = hostPort(lo); err != nil {
		return portRange{}, err
	}
	r.hi = r.lo
	if isRange {
		if r.hi, err = hostPort(hi); err != nil {
			return portRange{}, err
		}
	}
	r.proto = network.IPProtocol(strings.ToLower(proto))
	return r, nil
}

func inRanges(rs []portRange, p network.Port) bool {
	return slices.ContainsFunc(rs, func(r portRange) bool {
		return p.Num() >= r.lo && p.Num() <= r.hi && (r.proto == "" || r.proto == p.Proto())
	})
}
