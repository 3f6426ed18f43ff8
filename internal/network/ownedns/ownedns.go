// Package ownedns makes a network namespace owned by a user namespace of
// its own, each kept alive by a bind mount, for a container under
// user-namespace remapping.
//
// A process may join a namespace only with CAP_SYS_ADMIN in the user
// namespace that owns it. runc exec joins a container's user namespace
// first and its network namespace next, so a network namespace the host
// made (owned by the host's user namespace) cannot be entered from a
// remapped container's: docker exec and exec health checks fail. dockerd
// has runc make the network namespace inside the container's user
// namespace and plugs it from a hook; here the node makes the pair itself,
// before the container, and the container's spec names both paths, so the
// network is plumbed from the host as for any container and lives as long
// as the container, across its restarts.
package ownedns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Create makes a user namespace whose IDs are uids and gids, and a network
// namespace it owns, and bind-mounts them at userPath and netPath.
// Nothing is left mounted on failure.
func Create(userPath, netPath string, uids, gids []specs.LinuxIDMapping) (err error) {
	if len(uids) == 0 || len(gids) == 0 {
		return errors.New("a user namespace needs uid and gid mappings")
	}
	// The holder gets SIGKILL if the thread that forked it ends; keeping
	// this goroutine on that thread keeps the thread until the mounts are
	// made.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// Both namespaces come from one clone, so the kernel makes the user
	// namespace first and gives it the network namespace. The child never
	// runs any code: traced, it stops right after its exec, and is killed
	// once its namespaces are mounted. /proc/self/exe is a file any user
	// may reach through that link; the remapped root execs it.
	proc, err := os.StartProcess("/proc/self/exe", []string{"shoal-netns-holder"}, &os.ProcAttr{
		Sys: &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNET,
			UidMappings: idMaps(uids),
			GidMappings: idMaps(gids),
			// Without it the kernel would refuse setgroups in the user
			// namespace for good, and runc needs it for the process's
			// additional groups.
			GidMappingsEnableSetgroups: true,
			Ptrace:                     true,
			Pdeathsig:                  unix.SIGKILL,
		},
	})
	if err != nil {
		return fmt.Errorf("start a process in a new user and network namespace: %w", err)
	}
	// Not reaped before the mounts are made, so its PID names it alone.
	defer func() {
		proc.Kill()
		proc.Wait()
	}()
	dir := "/proc/" + strconv.Itoa(proc.Pid) + "/ns/"
	if err := bindNamespace(dir+"user", userPath); err != nil {
		return err
	}
	if err := bindNamespace(dir+"net", netPath); err != nil {
		if rerr := Remove(userPath); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	return nil
}

// idMaps turns OCI ID mappings into the ones os.StartProcess writes.
func idMaps(ms []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(ms))
	for i, m := range ms {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}

// bindNamespace bind-mounts the namespace file ns at path, which it makes.
func bindNamespace(ns, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create namespace directory: %w", err)
	}
	// Not O_EXCL: an empty file left by a crash between create and mount
	// is just reused.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace file: %w", err)
	}
	f.Close()
	if err := unix.Mount(ns, path, "", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("bind-mount %s at %s: %w", ns, path, err)
	}
	return nil
}

// Mounted reports whether a namespace is mounted at path.
func Mounted(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// Remove unmounts and removes the namespace file at path; the namespace
// goes once nothing holds it (a user namespace is held by the network
// namespaces it owns, too). A path that is not there, or not mounted, is
// not an error.
func Remove(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove namespace file: %w", err)
	}
	return nil
}
