//go:build shoaltesthooks

package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/node"
)

// withTestHooks serves, beside the API, the end-to-end tests' ways past
// it: POST /shoal-test/store/{kind}/{id} with a JSON patch writes an
// object straight into the replicated store (node.PatchStored), and POST
// /shoal-test/clock?offset=DURATION jumps this node's wall clock (package
// clock) for the fault suite; each answers 204, or 400 with the reason.
// GET /shoal-test/grpc-methods lists the cluster port's gRPC methods
// (node.ClusterMethods). They exist only in binaries built with the
// shoaltesthooks tag, which the e2e tests build; testhooks_off.go is
// every other build's.
func withTestHooks(api http.Handler, nd *node.Node) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/shoal-test/grpc-methods" && r.Method == http.MethodGet {
			methods, err := nd.ClusterMethods()
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(methods)
			return
		}
		if r.URL.Path == "/shoal-test/clock" && r.Method == http.MethodPost {
			d, err := time.ParseDuration(r.URL.Query().Get("offset"))
			if err != nil {
				http.Error(w, "offset: "+err.Error(), http.StatusBadRequest)
				return
			}
			clock.SetOffset(d)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/shoal-test/store/")
		if !ok || r.Method != http.MethodPost {
			api.ServeHTTP(w, r)
			return
		}
		kind, id, _ := strings.Cut(rest, "/")
		patch, err := io.ReadAll(r.Body)
		if err == nil {
			err = nd.PatchStored(r.Context(), kind, id, patch)
		}
		if err != nil {
			code := http.StatusBadRequest
			if errdefs.Is(err, errdefs.KindUnavailable) {
				code = http.StatusServiceUnavailable
			}
			http.Error(w, err.Error(), code)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
