package lb

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// isolatedEnv is set in the copy of the test binary that runs inside fresh
// network and mount namespaces.
const isolatedEnv = "SHOAL_LB_TEST_ISOLATED"

// TestMain runs the tests, as root, in a copy of this binary inside new
// network and mount namespaces: the namespaces the tests build are bind
// mounts that stay private to it, and whatever a failed test leaves goes
// away with it, so the host's network stack is never touched. Without root
// only the pure tests run; the others skip.
func TestMain(m *testing.M) {
	switch {
	case os.Getenv(isolatedEnv) != "":
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			fmt.Fprintln(os.Stderr, "make mounts private:", err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	case os.Geteuid() == 0:
		os.Exit(runIsolated())
	default:
		os.Exit(m.Run())
	}
}

func runIsolated() int {
	had := hostTables()
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), isolatedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS}
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			fmt.Fprintln(os.Stderr, "run tests in a new network namespace:", err)
			return 1
		}
		code = exit.ExitCode()
	}
	for name, now := range hostTables() {
		if now && !had[name] {
			fmt.Fprintf(os.Stderr, "FAIL: the host has an nftables table ip %s after the tests\n", name)
			code = 1
		}
	}
	return code
}

// hostTables says which of this package's tables the host's namespace has.
func hostTables() map[string]bool {
	has := map[string]bool{}
	c, err := nftables.New()
	if err != nil {
		return has
	}
	for _, name := range []string{vipTable, meshTable} {
		_, err := c.ListTableOfFamily(name, nftables.TableFamilyIPv4)
		has[name] = err == nil
	}
	return has
}

// requireKernel skips tests that change the network stack unless they run
// inside TestMain's namespaces.
func requireKernel(t *testing.T) {
	t.Helper()
	if os.Getenv(isolatedEnv) == "" {
		t.Skip("needs root: runs in its own network namespace")
	}
}
