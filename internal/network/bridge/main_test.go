package bridge

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// isolatedEnv is set in the copy of the test binary that runs inside fresh
// network and mount namespaces.
const isolatedEnv = "SHOAL_BRIDGE_TEST_ISOLATED"

// testBridge is the bridge the tests make; after they ran, the host must
// not have it.
const testBridge = "shoaltest0"

// TestMain runs the tests, as root, in a copy of this binary inside new
// network and mount namespaces: the bridge, veths, sandboxes and nftables
// table the tests make are all in there, and go away with it, so the host's
// network stack is never touched.
func TestMain(m *testing.M) {
	switch {
	case os.Getenv(isolatedEnv) != "":
		// Bind mounts of sandbox namespaces must not reach the host.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			fmt.Fprintln(os.Stderr, "make mounts private:", err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	case os.Geteuid() == 0:
		os.Exit(runIsolated())
	default:
		// Without root only the pure tests run; the others skip.
		os.Exit(m.Run())
	}
}

func runIsolated() int {
	hadTable := hostHasTable()
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
	if _, err := netlink.LinkByName(testBridge); err == nil {
		fmt.Fprintf(os.Stderr, "FAIL: the host has a %s interface after the tests\n", testBridge)
		code = 1
	}
	if !hadTable && hostHasTable() {
		fmt.Fprintf(os.Stderr, "FAIL: the host has an nftables table %s after the tests\n", tableName)
		code = 1
	}
	return code
}

func hostHasTable() bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	_, err = c.ListTableOfFamily(tableName, nftables.TableFamilyIPv4)
	return err == nil
}

// requireIsolation skips tests that change the network stack unless they
// run inside TestMain's namespaces.
func requireIsolation(t *testing.T) {
	t.Helper()
	if os.Getenv(isolatedEnv) == "" {
		t.Skip("needs root: runs in its own network namespace")
	}
}

// nsLinks looks links up inside one network namespace.
type nsLinks struct {
	*netlink.Handle
	ns netns.NsHandle
}

func netnsAt(path string) (*nsLinks, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, err
	}
	return &nsLinks{Handle: h, ns: ns}, nil
}

func (n *nsLinks) Close() {
	n.Handle.Close()
	n.ns.Close()
}
