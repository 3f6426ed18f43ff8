package lb

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// inNamespace runs f on an OS thread inside the network namespace at
// nsPath ("" is this process's own): /proc/sys/net shows the namespace of
// the thread that opens it.
func inNamespace(nsPath string, f func() error) error {
	if nsPath == "" {
		return f()
	}
	ns, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, the runtime ends
		// the thread instead of handing it, still inside the namespace,
		// to some other goroutine.
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", nsPath, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// writeSysctls writes each value under /proc/sys. A sysctl of an interface
// that is not there is an error, but for a value turning a feature off:
// there is nothing to turn off.
func writeSysctls(sysctls []sysctl) error {
	for _, s := range sysctls {
		path := filepath.Join("/proc/sys", s.path)
		err := os.WriteFile(path, []byte(s.value), 0o644)
		if err != nil && !(s.value == "0" && os.IsNotExist(err)) {
			return fmt.Errorf("set sysctl %s = %s: %w", s.path, s.value, err)
		}
	}
	return nil
}
