//go:build !shoaltesthooks

package daemon

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A normal build has no way past the API: the test hooks' path is the
// API's, which knows no such route.
func TestNoTestHooksInANormalBuild(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	rec := httptest.NewRecorder()
	withTestHooks(api, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/shoal-test/store/service/x", strings.NewReader(`{"ID":"x"}`)))
	if rec.Code != http.StatusTeapot {
		t.Errorf("got %d, want the API's own answer (%d)", rec.Code, http.StatusTeapot)
	}
}
