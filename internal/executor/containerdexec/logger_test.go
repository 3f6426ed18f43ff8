package containerdexec

import (
	"net/url"
	"path/filepath"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/containerdexec/jsonlog"
)

// TestLogURIOptions checks that a task's json-file options reach the log
// driver's command line as the shim makes it (each query pair "key value"),
// and that a bad one fails the task with dockerd's words.
func TestLogURIOptions(t *testing.T) {
	e := &Executor{cfg: Config{LogDriver: "/usr/bin/shoal", Root: t.TempDir()}}
	u, err := e.logURI("abc", map[string]string{"max-size": "1k", "max-file": "3"})
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get(logDriverArg) != filepath.Join(e.cfg.Root, "containers", "abc", "abc-json.log") {
		t.Errorf("log path %q", q.Get(logDriverArg))
	}
	opts, err := url.ParseQuery(q.Get(logOptsArg))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for k := range opts {
		m[k] = opts.Get(k)
	}
	if rot, err := jsonlog.ParseOptions(m); err != nil || rot != (jsonlog.Rotation{MaxSize: 1000, MaxFiles: 3}) {
		t.Errorf("options on the command line give %+v, %v", rot, err)
	}

	if u, err := e.logURI("abc", nil); err != nil || u.Query().Has(logOptsArg) {
		t.Errorf("no options: %v, %v", u, err)
	}
	_, err = e.logURI("abc", map[string]string{"max-file": "0"})
	if !errdefs.Is(err, errdefs.KindInvalid) || err.Error() != "log driver options: max-file cannot be less than 1" {
		t.Errorf("bad option: %v", err)
	}
}
