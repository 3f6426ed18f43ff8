package confine

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// DefaultRemapUser is the user and group whose subordinate IDs
// --userns-remap=default uses, made when missing, as dockerd names it.
const DefaultRemapUser = "dockremap"

// Remap is a daemon's user-namespace remapping (--userns-remap): every
// container not run with --userns=host runs in a user namespace whose IDs
// are these host IDs, its root being the first of them. A nil *Remap
// remaps nothing.
type Remap struct {
	User, Group string // whose subordinate IDs they are
	UIDs, GIDs  []specs.LinuxIDMapping
}

// RemapSpec is what --userns-remap names: a user and a group, each by
// name or by number. Group is empty when only a user is given.
type RemapSpec struct {
	User, Group string
	// Default is set for "default": the user and group are
	// DefaultRemapUser, made when missing.
	Default bool
}

// ParseRemapSpec reads the value of --userns-remap: "default", USER or
// USER:GROUP.
func ParseRemapSpec(value string) (RemapSpec, error) {
	if value == "default" {
		return RemapSpec{User: DefaultRemapUser, Group: DefaultRemapUser, Default: true}, nil
	}
	user, group, _ := strings.Cut(value, ":")
	if user == "" || strings.Contains(group, ":") || strings.HasSuffix(value, ":") {
		return RemapSpec{}, fmt.Errorf("--userns-remap %q: want default, USER or USER:GROUP", value)
	}
	return RemapSpec{User: user, Group: group}, nil
}

// SubIDRange is one line of /etc/subuid or /etc/subgid: Count IDs from
// Start, given to Owner (a user or group, by name or number).
type SubIDRange struct {
	Owner        string
	Start, Count uint32
}

// ParseSubIDs reads /etc/subuid or /etc/subgid: lines
// "OWNER:START:COUNT".
func ParseSubIDs(data []byte) ([]SubIDRange, error) {
	var out []SubIDRange
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) != 3 || parts[0] == "" {
			return nil, fmt.Errorf("line %d: %q: want NAME:START:COUNT", n, line)
		}
		start, err := strconv.ParseUint(parts[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("line %d: start %q: want a number below 2^32", n, parts[1])
		}
		count, err := strconv.ParseUint(parts[2], 10, 32)
		if err != nil || count == 0 || start+count > 1<<32 {
			return nil, fmt.Errorf("line %d: count %q: want a number of IDs from 1 that stays below 2^32", n, parts[2])
		}
		out = append(out, SubIDRange{Owner: parts[0], Start: uint32(start), Count: uint32(count)})
	}
	return out, sc.Err()
}

// RangesOf returns the ranges of all given to the user or group called
// name or numbered id, lowest first, as shadow's tools find them by
// either.
func RangesOf(all []SubIDRange, name string, id int) []SubIDRange {
	var out []SubIDRange
	for _, r := range all {
		if r.Owner == name || r.Owner == strconv.Itoa(id) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b SubIDRange) int { return cmp.Compare(a.Start, b.Start) })
	return out
}

// IDMappings lays ranges end to end from container ID 0, lowest host ID
// first, as dockerd maps a user's subordinate ranges.
func IDMappings(ranges []SubIDRange) []specs.LinuxIDMapping {
	var out []specs.LinuxIDMapping
	var next uint32
	for _, r := range ranges {
		out = append(out, specs.LinuxIDMapping{ContainerID: next, HostID: r.Start, Size: r.Count})
		next += r.Count
	}
	return out
}

// Root returns the host IDs of the containers' root.
func (r *Remap) Root() (uid, gid int) {
	return int(r.UIDs[0].HostID), int(r.GIDs[0].HostID)
}

// ToHost returns the host IDs of a container's uid and gid; an ID the
// mapping leaves out has no owner on the host and is an error.
func (r *Remap) ToHost(uid, gid int) (int, int, error) {
	hu, ok := toHost(r.UIDs, uid)
	if !ok {
		return -1, -1, fmt.Errorf("uid %d is outside the remapped range of %s", uid, r.User)
	}
	hg, ok := toHost(r.GIDs, gid)
	if !ok {
		return -1, -1, fmt.Errorf("gid %d is outside the remapped range of %s", gid, r.Group)
	}
	return hu, hg, nil
}

// OverflowID is the owner the kernel shows, inside a user namespace, for
// a host ID the namespace does not map (/proc/sys/kernel/overflowuid).
const OverflowID = 65534

// ToContainer returns the IDs a container sees for a file owned by host
// IDs uid and gid: a host ID the mapping leaves out is OverflowID, as
// `ls -n` in the container shows it.
func (r *Remap) ToContainer(uid, gid int) (int, int) {
	return toContainer(r.UIDs, uid), toContainer(r.GIDs, gid)
}

func toContainer(ms []specs.LinuxIDMapping, id int) int {
	for _, m := range ms {
		if id >= int(m.HostID) && id < int(m.HostID)+int(m.Size) {
			return int(m.ContainerID) + id - int(m.HostID)
		}
	}
	return OverflowID
}

func toHost(ms []specs.LinuxIDMapping, id int) (int, bool) {
	for _, m := range ms {
		if id >= int(m.ContainerID) && id < int(m.ContainerID)+int(m.Size) {
			return int(m.HostID) + id - int(m.ContainerID), true
		}
	}
	return -1, false
}

// Remapped reports whether a container with host runs in the remapped
// user namespace: always under a remapping, unless it asks for the host's
// (--userns=host).
func (r *Remap) Remapped(host *container.HostConfig) bool {
	return r != nil && !host.UsernsMode.IsHost()
}

// CheckRemapped refuses what dockerd refuses of a container in a remapped
// user namespace: privileges, and the host's network or PID namespace,
// which the container's root could not use as the host's root
// (--userns=host lifts it).
func (r *Remap) CheckRemapped(host *container.HostConfig) error {
	if !r.Remapped(host) {
		return nil
	}
	switch {
	case host.Privileged:
		return errdefs.Invalid("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode (--userns=host)")
	case host.NetworkMode.IsHost():
		return errdefs.Invalid("cannot share the host's network namespace when user namespaces are enabled (use --userns=host)")
	case host.PidMode.IsHost():
		return errdefs.Invalid("cannot share the host PID namespace when user namespaces are enabled (use --userns=host)")
	}
	return nil
}

// subIDRangeSize is how many subordinate IDs the user made for
// --userns-remap=default gets, and where its range may start at the
// lowest, as dockerd (and shadow's defaults) do.
const (
	subIDRangeSize  = 65536
	subIDRangeStart = 100000
)

// NextSubIDStart is where a new range of subIDRangeSize IDs can start
// without overlapping any of taken (every range of the file), as dockerd
// chooses it: from subIDRangeStart, past each range in the way.
func NextSubIDStart(taken []SubIDRange) uint32 {
	taken = slices.Clone(taken)
	slices.SortFunc(taken, func(a, b SubIDRange) int { return cmp.Compare(a.Start, b.Start) })
	start := uint64(subIDRangeStart)
	for _, r := range taken {
		if uint64(r.Start) < start+subIDRangeSize && start < uint64(r.Start)+uint64(r.Count) {
			start = uint64(r.Start) + uint64(r.Count)
		}
	}
	return uint32(start)
}
