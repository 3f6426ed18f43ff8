// Package confine says how a container is confined, as Docker confines
// it: Docker's default capability set, the security options a request
// may carry (HostConfig.SecurityOpt, a service's Privileges), and seccomp
// profiles in Docker's JSON format turned into the OCI runtime's. It
// decides; the executor applies what it decides to the container's spec.
package confine

import (
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/pkg/cap"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// DefaultCapabilities are the capabilities Docker gives a container that
// is not privileged and asks for no others (moby's oci/caps defaults).
var DefaultCapabilities = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
}

// MaskedPaths are the paths Docker hides from a container that is not
// privileged: an empty file or directory is mounted over them. The
// thermal throttle directories of each CPU that Docker also masks are the
// runtime's to add (containerd does).
var MaskedPaths = []string{
	"/proc/asound",
	"/proc/acpi",
	"/proc/interrupts",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
}

// ReadonlyPaths are the paths Docker mounts read-only in a container that
// is not privileged.
var ReadonlyPaths = []string{
	"/proc/bus",
	"/proc/fs",
	"/proc/irq",
	"/proc/sys",
	"/proc/sysrq-trigger",
}

// SeccompMode is how a container's system calls are filtered.
type SeccompMode string

// The seccomp modes, named as a service's Privileges.Seccomp.Mode names them.
const (
	SeccompDefault    SeccompMode = "default"    // Docker's default profile
	SeccompUnconfined SeccompMode = "unconfined" // no filter
	SeccompCustom     SeccompMode = "custom"     // the profile given
)

// Options are the security options of one container.
type Options struct {
	NoNewPrivileges bool
	Seccomp         SeccompMode
	// Profile is the custom profile, set when Seccomp is SeccompCustom.
	Profile *Profile
	// UnmaskSystemPaths leaves /proc and /sys as the runtime mounts them,
	// without the masked and read-only paths ("systempaths=unconfined").
	UnmaskSystemPaths bool
}

// ParseSecurityOpt reads HostConfig.SecurityOpt as dockerd does: "KEY=VALUE"
// or the legacy "KEY:VALUE", and "no-new-privileges" alone. The docker CLI
// sends a seccomp profile's content, not its file name. Options that ask
// for a confinement this node cannot give (AppArmor profiles, SELinux
// labels) are refused rather than ignored; the ones that turn such a
// confinement off are accepted, as there is none to turn off.
func ParseSecurityOpt(opts []string) (Options, error) {
	o := Options{Seccomp: SeccompDefault}
	for _, opt := range opts {
		if opt == "no-new-privileges" {
			o.NoNewPrivileges = true
			continue
		}
		key, value, ok := strings.Cut(opt, "=")
		if !ok {
			key, value, ok = strings.Cut(opt, ":")
		}
		if !ok {
			return Options{}, errdefs.Invalid("HostConfig.SecurityOpt: invalid option %q: want KEY=VALUE", opt)
		}
		switch key {
		case "no-new-privileges":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return Options{}, errdefs.Invalid("HostConfig.SecurityOpt: invalid no-new-privileges value %q: want true or false", value)
			}
			o.NoNewPrivileges = b
		case "seccomp":
			switch value {
			case "unconfined":
				o.Seccomp, o.Profile = SeccompUnconfined, nil
			case "builtin", "":
				o.Seccomp, o.Profile = SeccompDefault, nil
			default:
				p, err := DecodeProfile([]byte(value))
				if err != nil {
					return Options{}, errdefs.Invalid("HostConfig.SecurityOpt: seccomp: %v", err)
				}
				o.Seccomp, o.Profile = SeccompCustom, p
			}
		case "systempaths":
			if value != "unconfined" {
				return Options{}, errdefs.Invalid("HostConfig.SecurityOpt: invalid systempaths value %q: want unconfined", value)
			}
			o.UnmaskSystemPaths = true
		case "apparmor":
			if value != "unconfined" {
				return Options{}, errdefs.Invalid("HostConfig.SecurityOpt: apparmor profile %q: this node applies no AppArmor profile; only apparmor=unconfined is accepted", value)
			}
		case "label":
			if value != "disable" {
				return Options{}, errdefs.Invalid("HostConfig.SecurityOpt: label %q: this node applies no SELinux label; only label=disable is accepted", value)
			}
		default:
			return Options{}, errdefs.Invalid("HostConfig.SecurityOpt: invalid option %q: want no-new-privileges, seccomp, systempaths, apparmor or label", opt)
		}
	}
	return o, nil
}

// FormatSecurityOpt is the SecurityOpt that says what a service's
// Privileges ask for, so that a task's container is confined by the same
// code as a plain one and inspect shows it as Docker does.
func FormatSecurityOpt(noNewPrivileges bool, mode SeccompMode, profile []byte) []string {
	var opts []string
	if noNewPrivileges {
		opts = append(opts, "no-new-privileges=true")
	}
	switch mode {
	case SeccompUnconfined:
		opts = append(opts, "seccomp=unconfined")
	case SeccompCustom:
		opts = append(opts, "seccomp="+string(profile))
	}
	return opts
}

// CheckSeccomp checks a service's Privileges.Seccomp: its mode, and a
// profile exactly when the mode is custom.
func CheckSeccomp(mode SeccompMode, profile []byte) error {
	switch mode {
	case "", SeccompDefault, SeccompUnconfined:
		if len(profile) > 0 {
			return errdefs.Invalid("ContainerSpec.Privileges.Seccomp: a profile is given but Mode is %q: set Mode to custom", mode)
		}
		return nil
	case SeccompCustom:
		if len(profile) == 0 {
			return errdefs.Invalid("ContainerSpec.Privileges.Seccomp: Mode custom needs a Profile")
		}
		if _, err := DecodeProfile(profile); err != nil {
			return errdefs.Invalid("ContainerSpec.Privileges.Seccomp.Profile: %v", err)
		}
		return nil
	default:
		return errdefs.Invalid("ContainerSpec.Privileges.Seccomp.Mode %q: want default, unconfined or custom", mode)
	}
}

// CheckCapabilities refuses a capability the runtime does not know, named
// with or without CAP_, in any case; in names the fields CapAdd and
// CapDrop belong to ("HostConfig").
func CheckCapabilities(in string, add, drop []string) error {
	known := cap.Known()
	for _, list := range []struct {
		field string
		caps  []string
	}{{"CapAdd", add}, {"CapDrop", drop}} {
		for _, c := range list.caps {
			if name := NormalizeCapability(c); name != "ALL" && !slices.Contains(known, name) {
				return errdefs.Invalid("%s.%s: unknown capability: %q", in, list.field, name)
			}
		}
	}
	return nil
}

// NormalizeCapability is a capability's name as the runtime knows it:
// upper case, with CAP_. "ALL" stays "ALL".
func NormalizeCapability(c string) string {
	c = strings.ToUpper(c)
	if c == "ALL" || strings.HasPrefix(c, "CAP_") {
		return c
	}
	return "CAP_" + c
}

// Capabilities is the capability set of a container, decided as dockerd
// decides it: every known one when privileged, whatever is added or
// dropped; with ALL added, every known one but those dropped; with ALL
// dropped, only those added; otherwise Docker's default set less those
// dropped, plus those added (adding wins over dropping the same one).
func Capabilities(known []string, privileged bool, add, drop []string) []string {
	add, drop = normalizeAll(add), normalizeAll(drop)
	var caps []string
	switch {
	case privileged:
		caps = slices.Clone(known)
	case slices.Contains(add, "ALL"):
		for _, c := range known {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(drop, "ALL"):
		caps = slices.Clone(add)
	default:
		for _, c := range DefaultCapabilities {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
		caps = append(caps, add...)
	}
	slices.Sort(caps)
	return slices.Compact(caps)
}

func normalizeAll(caps []string) []string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = NormalizeCapability(c)
	}
	return out
}

// SecurityOptions are what docker info shows of the confinement this
// daemon applies, in dockerd's form: Docker's default seccomp profile,
// and the user-namespace remapping when there is one.
func SecurityOptions(remapped bool) []string {
	opts := []string{"name=seccomp,profile=builtin"}
	if remapped {
		opts = append(opts, "name=userns")
	}
	return opts
}
