package containerdexec

import (
	"errors"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// TestStartError checks that a missing command reads the same from runc
// and from crun: the docker CLI exits 127 on runc's words.
func TestStartError(t *testing.T) {
	for _, tc := range []struct{ runtime, msg, want string }{
		{"runc", `create task of x: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown`,
			`failed to create task for container: exec: "nope": executable file not found in $PATH`},
		{"crun", "create task of x: failed to create shim task: OCI runtime create failed: executable file `nope` not found in $PATH: No such file or directory: unknown",
			`failed to create task for container: exec: "nope": executable file not found in $PATH`},
	} {
		err := startError(errors.New(tc.msg))
		if !errdefs.Is(err, errdefs.KindInvalid) || err.Error() != tc.want {
			t.Errorf("%s: %v (%v), want invalid %q", tc.runtime, err, errdefs.KindOf(err), tc.want)
		}
	}
	other := errors.New("create task of x: failed to create shim task: OCI runtime create failed: cgroups in hybrid mode not supported: unknown")
	if err := startError(other); err != other {
		t.Errorf("another failure became %v", err)
	}
}
