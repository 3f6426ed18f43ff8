//go:build shoaltesthooks

package node

import (
	"context"
	"encoding/json"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

// PatchStored changes an object straight in the replicated store, past
// every check of the API, for the end-to-end tests that need what the API
// refuses: an object past the size limits, a spec the cluster cannot
// serve. It exists only in binaries built with the shoaltesthooks tag,
// and only on the leader (where store updates are proposed).
//
// kind is service, task, secret, config, node or cluster; patch is JSON
// decoded over the stored object with that ID (over a new one when there
// is none, which the patch must then give its ID).
func (n *Node) PatchStored(ctx context.Context, kind, id string, patch []byte) error {
	_, mgr, _, _ := n.snapshot()
	if mgr == nil {
		return errNotManager
	}
	return mgr.store.Update(ctx, func(tx *store.WriteTx) error {
		switch kind {
		case "service":
			return patchStored[*store.Service](tx, id, patch)
		case "task":
			return patchStored[*store.Task](tx, id, patch)
		case "secret":
			return patchStored[*store.Secret](tx, id, patch)
		case "config":
			return patchStored[*store.Config](tx, id, patch)
		case "node":
			return patchStored[*store.Node](tx, id, patch)
		case "cluster":
			return patchStored[*store.Cluster](tx, id, patch)
		}
		return errdefs.Invalid("unknown kind %q", kind)
	})
}

func patchStored[T store.Object](tx *store.WriteTx, id string, patch []byte) error {
	var zero T
	o := store.Get[T](tx.ReadTx, id)
	if o != zero {
		o = store.Clone(o)
	}
	if err := json.Unmarshal(patch, &o); err != nil {
		return errdefs.Invalid("patch: %v", err)
	}
	return tx.Put(o)
}

// ClusterMethods lists the full names of the gRPC methods this manager
// serves on its cluster port, read from the gRPC server's service info,
// each with whether it streams: the authorization tests call every one
// without listing them by hand.
func (n *Node) ClusterMethods() (map[string]bool, error) {
	_, mgr, _, _ := n.snapshot()
	if mgr == nil {
		return nil, errNotManager
	}
	out := map[string]bool{}
	for svc, info := range mgr.grpc.GetServiceInfo() {
		for _, m := range info.Methods {
			out["/"+svc+"/"+m.Name] = m.IsClientStream || m.IsServerStream
		}
	}
	return out, nil
}
