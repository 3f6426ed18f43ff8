package containerdexec

import (
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoal-project/shoal/internal/executor/containerdexec/jsonlog"
)

// logDriverArg names the log's path on the log driver's command line,
// logOptsArg its json-file options, query-encoded.
const (
	logDriverArg = "shoal-json-log"
	logOptsArg   = "shoal-log-opts"
)

// LoggerMain runs the log driver and exits when the process was started by
// a containerd shim as the log driver of a container (its arguments are
// the pairs of the log URI's query, logURI); otherwise it returns at
// once. Call it first thing in main (and in TestMain of tests that run
// containers).
//
// The shim gives the driver the container's stdout and stderr as fds 3 and
// 4 and waits for fd 5 to close. When the container's task is deleted, the
// shim closes its ends of the pipes and sends SIGTERM; the driver ignores
// the signal and exits once it has written all that was left in the pipes.
func LoggerMain() {
	args := map[string]string{}
	for i := 1; i+1 < len(os.Args); i += 2 {
		args[os.Args[i]] = os.Args[i+1]
	}
	path, ok := args[logDriverArg]
	if !ok || len(os.Args)%2 != 1 {
		return
	}
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	err := drive(path, args[logOptsArg])
	if err != nil {
		fmt.Fprintln(os.Stderr, "shoal log driver:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// drive writes the log at path with the rotation the query-encoded
// json-file options ask.
func drive(path, opts string) error {
	q, err := url.ParseQuery(opts)
	if err != nil {
		return fmt.Errorf("log options: %w", err)
	}
	m := map[string]string{}
	for k := range q {
		m[k] = q.Get(k)
	}
	rot, err := jsonlog.ParseOptions(m)
	if err != nil {
		return fmt.Errorf("log options: %w", err)
	}
	return jsonlog.Drive(path, rot, os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready"))
}
