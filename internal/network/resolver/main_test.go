package resolver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// isolatedEnv is set in the copy of the test binary that runs inside fresh
// network and mount namespaces.
const isolatedEnv = "SHOAL_RESOLVER_TEST_ISOLATED"

// TestMain runs the tests, as root, in a copy of this binary inside new
// network and mount namespaces: that namespace stands for the daemon's
// (its loopback carries the fake upstream nameservers), the containers'
// namespaces the tests make are mounted in there, and all of it goes away
// with the process whatever the tests leave behind. Without root only the
// tests that need no namespace run.
func TestMain(m *testing.M) {
	switch {
	case os.Getenv(isolatedEnv) != "":
		if err := isolate(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	case os.Geteuid() == 0:
		os.Exit(runIsolated())
	default:
		os.Exit(m.Run())
	}
}

// isolate makes this process's mounts private, so that namespace mounts
// never reach the host, and brings its new namespace's loopback up.
func isolate() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}

func runIsolated() int {
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), isolatedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			fmt.Fprintln(os.Stderr, "run the tests in new namespaces:", err)
			return 1
		}
		return exit.ExitCode()
	}
	return 0
}

// requireNamespaces skips tests that make network namespaces unless they
// run inside TestMain's.
func requireNamespaces(t *testing.T) {
	t.Helper()
	if os.Getenv(isolatedEnv) == "" {
		t.Skip("needs root: runs in its own network namespace")
	}
}
