package confine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The files of subordinate IDs; variables for tests.
var (
	subUIDFile = "/etc/subuid"
	subGIDFile = "/etc/subgid"
)

// LoadRemap resolves --userns-remap (value) as dockerd does: the user and
// group by name or number (a user given alone names its group too; a
// number alone is both IDs), their ranges in /etc/subuid and /etc/subgid.
// For "default" it makes the user and group DefaultRemapUser when the
// user is missing, with a range of its own in both files, as dockerd
// does with the system's tools. An unknown user or group, or one without
// ranges, is an error that says which.
func LoadRemap(ctx context.Context, value string) (*Remap, error) {
	spec, err := ParseRemapSpec(value)
	if err != nil {
		return nil, err
	}
	u, err := lookupUser(spec.User)
	if err != nil && spec.Default {
		if err := addRemapUser(ctx, spec.User); err != nil {
			return nil, fmt.Errorf("--userns-remap=default: create the user %s: %w", spec.User, err)
		}
		u, err = lookupUser(spec.User)
	}
	if err != nil {
		return nil, fmt.Errorf("--userns-remap %q: user %s: %w", value, spec.User, err)
	}
	groupSpec := spec.Group
	if groupSpec == "" {
		groupSpec = u.Username
		if _, err := strconv.Atoi(spec.User); err == nil {
			groupSpec = u.Gid
		}
	}
	g, err := lookupGroup(groupSpec)
	if err != nil {
		return nil, fmt.Errorf("--userns-remap %q: group %s: %w", value, groupSpec, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	uids, err := readRanges(subUIDFile, u.Username, uid)
	if err != nil {
		return nil, err
	}
	gids, err := readRanges(subGIDFile, g.Name, gid)
	if err != nil {
		return nil, err
	}
	switch {
	case len(uids) == 0:
		return nil, fmt.Errorf("--userns-remap %q: no subordinate uid range for user %s in %s", value, u.Username, subUIDFile)
	case len(gids) == 0:
		return nil, fmt.Errorf("--userns-remap %q: no subordinate gid range for group %s in %s", value, g.Name, subGIDFile)
	}
	return &Remap{User: u.Username, Group: g.Name, UIDs: IDMappings(uids), GIDs: IDMappings(gids)}, nil
}

func lookupUser(s string) (*user.User, error) {
	if _, err := strconv.Atoi(s); err == nil {
		return user.LookupId(s)
	}
	return user.Lookup(s)
}

func lookupGroup(s string) (*user.Group, error) {
	if _, err := strconv.Atoi(s); err == nil {
		return user.LookupGroupId(s)
	}
	return user.LookupGroup(s)
}

// readRanges returns the ranges of file given to name or id; a missing
// file gives none.
func readRanges(file, name string, id int) ([]SubIDRange, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	all, err := ParseSubIDs(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return RangesOf(all, name, id), nil
}

// addRemapUser makes name a system user with a group of the same name,
// with Debian's adduser or else useradd, and gives it subordinate uids
// and gids unless the tools did.
func addRemapUser(ctx context.Context, name string) error {
	var cmd *exec.Cmd
	if p, err := exec.LookPath("adduser"); err == nil {
		cmd = exec.CommandContext(ctx, p, "--system", "--shell", "/bin/false", "--no-create-home", "--disabled-login", "--disabled-password", "--group", name)
	} else if p, err := exec.LookPath("useradd"); err == nil {
		cmd = exec.CommandContext(ctx, p, "--system", "-s", "/bin/false", "-U", name)
	} else {
		return errors.New("neither adduser nor useradd is installed")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(string(out)))
	}
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	for _, f := range []struct {
		file, flag string
		id         int
	}{{subUIDFile, "-v", uid}, {subGIDFile, "-w", gid}} {
		have, err := readRanges(f.file, name, f.id)
		if err != nil || len(have) > 0 {
			return err
		}
		data, err := os.ReadFile(f.file)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		all, err := ParseSubIDs(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
		start := NextSubIDStart(all)
		cmd := exec.CommandContext(ctx, "usermod", f.flag, fmt.Sprintf("%d-%d", start, start+subIDRangeSize-1), name)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Reachable makes dir, a directory of the daemon's own that holds the
// containers' root filesystems (containerd's state), searchable by the
// remapped root, and checks that every directory above it is: the
// runtime sets a container's root up from inside its user namespace,
// as the remapped root, which needs to reach it. A parent that does not
// let it is an error, as in dockerd, rather than a mode changed outside
// the daemon's own directories.
func (r *Remap) Reachable(dir string) error {
	uid, gid := r.Root()
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !searchable(info, uid, gid) {
		if err := os.Chmod(dir, info.Mode().Perm()|0o001); err != nil {
			return fmt.Errorf("let the remapped root reach %s: %w", dir, err)
		}
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !searchable(info, uid, gid) {
			return fmt.Errorf("--userns-remap: %s (above %s) does not let the remapped root %d:%d through; allow it o+x", p, dir, uid, gid)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// searchable reports whether a directory lets uid:gid search it.
func searchable(info os.FileInfo, uid, gid int) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	mode := info.Mode().Perm()
	switch {
	case int(st.Uid) == uid:
		return mode&0o100 != 0
	case int(st.Gid) == gid:
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}
