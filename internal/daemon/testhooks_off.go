//go:build !shoaltesthooks

package daemon

import (
	"net/http"

	"github.com/shoal-project/shoal/internal/node"
)

// withTestHooks is the API as it is: only binaries built with the
// shoaltesthooks tag (the e2e tests') have a way past it (testhooks.go).
func withTestHooks(api http.Handler, _ *node.Node) http.Handler { return api }
