package encrypt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// isolatedEnv is set in the copy of the test binary that runs inside fresh
// network and mount namespaces; helperEnv in the copies that run a tunnel
// inside one of the test's namespaces.
const (
	isolatedEnv = "SHOAL_ENCRYPT_TEST_ISOLATED"
	helperEnv   = "SHOAL_ENCRYPT_TEST_HELPER"
)

// TestMain runs the tests, as root, in a copy of this binary inside new
// network and mount namespaces, so that nothing they make (namespaces,
// links, nftables tables) can reach the host's network stack; without
// root only the pure tests run. It also serves as the tunnel helper
// process (see startHelper).
func TestMain(m *testing.M) {
	switch {
	case os.Getenv(helperEnv) != "":
		os.Exit(runHelper(os.Getenv(helperEnv)))
	case os.Getenv(isolatedEnv) != "":
		// Bind mounts of the test's namespaces must not reach the host.
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
	hadTable := hostHasGuard()
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
	for _, name := range []string{DefaultName, underlayA, underlayB} {
		if _, err := netlink.LinkByName(name); err == nil {
			fmt.Fprintf(os.Stderr, "FAIL: the host has a %s interface after the tests\n", name)
			code = 1
		}
	}
	if !hadTable && hostHasGuard() {
		fmt.Fprintf(os.Stderr, "FAIL: the host has an nftables table %s after the tests\n", guardTable)
		code = 1
	}
	return code
}

func hostHasGuard() bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	_, err = c.ListTableOfFamily(guardTable, nftables.TableFamilyIPv4)
	return err == nil
}

// requireIsolation skips tests that change the network stack unless they
// run inside TestMain's namespaces.
func requireIsolation(tb testing.TB) {
	tb.Helper()
	if os.Getenv(isolatedEnv) == "" {
		tb.Skip("needs root: runs in network namespaces of its own")
	}
}

// helperConfig is what a helper process is started with.
type helperConfig struct {
	KeyPath string
	Addr    netip.Prefix
	Port    uint16
}

// helperReply is a helper's answer to its start and to each SetPeers.
type helperReply struct {
	PublicKey string `json:",omitempty"`
	Err       string `json:",omitempty"`
}

// runHelper is the helper process: it starts a tunnel in the network
// namespace it was started in (all of the process is in it, as the
// daemon is in its host's), answers with the public key, then applies
// each line of its input, a JSON list of peers, and answers each. It
// closes the tunnel and exits at the end of its input.
func runHelper(config string) int {
	var cfg helperConfig
	out := json.NewEncoder(os.Stdout)
	reply := func(r helperReply) int {
		if err := out.Encode(r); err != nil {
			return 1
		}
		return 0
	}
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		return reply(helperReply{Err: err.Error()}) + 1
	}
	key, err := LoadOrCreateKey(cfg.KeyPath)
	if err != nil {
		return reply(helperReply{Err: err.Error()}) + 1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tun, err := Start(context.Background(), Config{PrivateKey: key, Addr: cfg.Addr, ListenPort: cfg.Port, Logger: log})
	if err != nil {
		return reply(helperReply{Err: err.Error()}) + 1
	}
	defer tun.Close()
	if reply(helperReply{PublicKey: key.Public()}) != 0 {
		return 1
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var peers []Peer
		if err := json.Unmarshal(in.Bytes(), &peers); err != nil {
			return reply(helperReply{Err: err.Error()}) + 1
		}
		r := helperReply{}
		if err := tun.SetPeers(peers); err != nil {
			r.Err = err.Error()
		}
		if reply(r) != 0 {
			return 1
		}
	}
	return 0
}

// helper is a tunnel running in a helper process inside one namespace.
//
// A process, rather than a goroutine on an OS thread that entered the
// namespace: wireguard-go opens its UDP sockets, and looks its device up
// by name, from goroutines of its own (when the link goes up or down, when
// the MTU changes), on whatever thread they run. Only a process that is
// wholly in the namespace, as the daemon is, keeps all of those there.
type helper struct {
	PublicKey string

	cmd    *exec.Cmd
	in     *json.Encoder
	stdin  interface{ Close() error }
	out    *json.Decoder
	stderr *lockedBuffer
}

// startHelper starts a tunnel in the namespace at nsPath and stops it when
// the test ends, showing its log if the test failed.
func startHelper(tb testing.TB, nsPath string, cfg helperConfig) *helper {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net="+nsPath, "--", self)
	cmd.Env = append(os.Environ(), helperEnv+"="+string(config))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	h := &helper{cmd: cmd, in: json.NewEncoder(stdin), stdin: stdin, out: json.NewDecoder(stdout), stderr: &lockedBuffer{}}
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		h.stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("tunnel helper in %s: %v", nsPath, err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			tb.Errorf("tunnel helper in %s did not stop at the end of its input", nsPath)
			<-done
		}
		if tb.Failed() {
			tb.Logf("tunnel helper in %s logged:\n%s", nsPath, h.stderr.String())
		}
	})
	var r helperReply
	if err := h.out.Decode(&r); err != nil || r.Err != "" {
		tb.Fatalf("start tunnel in %s: %v %s\n%s", nsPath, err, r.Err, h.stderr.String())
	}
	h.PublicKey = r.PublicKey
	return h
}

// SetPeers sets the helper's tunnel's peers.
func (h *helper) SetPeers(peers []Peer) error {
	if err := h.in.Encode(peers); err != nil {
		return err
	}
	var r helperReply
	if err := h.out.Decode(&r); err != nil {
		return err
	}
	if r.Err != "" {
		return errors.New(r.Err)
	}
	return nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
