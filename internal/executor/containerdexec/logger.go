package containerdexec

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoal-project/shoal/internal/executor/containerdexec/jsonlog"
)

// logDriverArg is the first argument of the log driver's command line.
const logDriverArg = "shoal-json-log"

// LoggerMain runs the log driver and exits when the process was started by
// a containerd shim as the log driver of a container; otherwise it returns
// at once. Call it first thing in main (and in TestMain of tests that run
// containers).
//
// The shim gives the driver the container's stdout and stderr as fds 3 and
// 4 and waits for fd 5 to close. When the container's task is deleted, the
// shim closes its ends of the pipes and sends SIGTERM; the driver ignores
// the signal and exits once it has written all that was left in the pipes.
func LoggerMain() {
	if len(os.Args) != 3 || os.Args[1] != logDriverArg {
		return
	}
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	err := jsonlog.Drive(os.Args[2], os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "shoal log driver:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
