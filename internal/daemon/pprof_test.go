package daemon

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// With --pprof the profiles are served beside the API, and every other
// path still reaches the API.
func TestWithPprof(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("api")) })
	h := withPprof(api)
	for path, want := range map[string]string{
		"/debug/pprof/":          "goroutine",
		"/debug/pprof/cmdline":   "daemon.test",
		"/services":              "api",
		"/v1.44/debug/pprof/foo": "api",
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("GET %s: %d %.80q, want %q in it", path, w.Code, w.Body.String(), want)
		}
	}
}
