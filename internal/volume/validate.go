package volume

import (
	"regexp"

	"github.com/docker/go-units"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// DriverLocal is the only volume driver: volume plugins do not exist here.
const DriverLocal = "local"

// namePattern is Docker's rule for local volume names, which become
// directory names: no path separators, no leading dot or dash.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// nameChars is how Docker's message describes namePattern.
const nameChars = `[a-zA-Z0-9][a-zA-Z0-9_.-]`

// maxNameLength bounds a name, which is a directory name (255 bytes on
// Linux), with room to spare.
const maxNameLength = 200

// ValidateName checks a volume name with Docker's rule and messages.
func ValidateName(name string) error {
	switch {
	case len(name) == 1:
		return errdefs.Invalid("volume name is too short, names should be at least two alphanumeric characters")
	case len(name) > maxNameLength:
		return errdefs.Invalid("volume name is too long: %d bytes, the limit is %d", len(name), maxNameLength)
	case !namePattern.MatchString(name):
		return errdefs.Invalid("%q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path", name, nameChars)
	}
	return nil
}

// ValidateDriver checks a volume driver's name: the local driver, by name
// or by default. Another is not found, as Docker says of a plugin it does
// not have.
func ValidateDriver(driver string) error {
	if driver == "" || driver == DriverLocal {
		return nil
	}
	return errdefs.NotFound("error looking up volume plugin %s: plugin %q not found", driver, driver)
}

// Options the local driver takes, as Docker's: the filesystem type, the
// device to mount and the mount options, each needing the others as
// Docker's do; "size" is a quota, which needs a filesystem with project
// quotas that this driver does not manage.
var (
	validOptions    = map[string]bool{"type": true, "o": true, "device": true, "size": true}
	requiredOptions = map[string][]string{"device": {"type"}, "type": {"device"}, "o": {"device", "type"}}
)

// ValidateOptions checks the local driver's options, with Docker's
// messages.
func ValidateOptions(opts map[string]string) error {
	for k := range opts {
		if !validOptions[k] {
			return errdefs.Invalid("invalid option: %q", k)
		}
	}
	if v, ok := opts["size"]; ok {
		if _, err := units.RAMInBytes(v); err != nil {
			return errdefs.Invalid("invalid option \"size\": %v", err)
		}
		return errdefs.Invalid("quota size requested but no quota support")
	}
	for _, k := range []string{"device", "type", "o"} {
		if _, ok := opts[k]; !ok {
			continue
		}
		for _, need := range requiredOptions[k] {
			if _, ok := opts[need]; !ok {
				return errdefs.Invalid("missing required option: %q", need)
			}
		}
	}
	return nil
}

// needsMount reports whether a volume with opts is a filesystem mounted
// on its data directory while containers use it, rather than the
// directory itself.
func needsMount(opts map[string]string) bool {
	return opts["type"] != "" || opts["device"] != ""
}
