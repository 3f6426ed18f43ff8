package imagepeer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/rpc"
)

// Index is a manager's knowledge of which node holds which image, from
// the nodes' announcements. It lives in memory only: every node announces
// to every manager it knows, and again every limits.PeerAnnouncePeriod,
// so a manager that restarts knows everything again within a period.
type Index struct {
	now func() time.Time

	mu    sync.Mutex
	nodes map[string]*announced // guarded by mu; by node ID
}

// announced is what one node said last.
type announced struct {
	holder  Holder
	at      time.Time
	digests map[digest.Digest]bool
	names   map[string]digest.Digest // stored name → target digest
}

// NewIndex returns an empty index on the wall clock.
func NewIndex() *Index { return newIndex(time.Now) }

func newIndex(now func() time.Time) *Index {
	return &Index{now: now, nodes: map[string]*announced{}}
}

// Register adds the index's service to a gRPC server.
func (x *Index) Register(g grpc.ServiceRegistrar) { g.RegisterService(&indexDesc, x) }

// Announce records what the calling node holds, replacing what it said
// before. The node is who its certificate says; its role too.
func (x *Index) Announce(ctx context.Context, req *AnnounceRequest) (*AnnounceResponse, error) {
	id, err := ca.IdentityFromContext(ctx)
	if err != nil {
		return nil, rpc.Status(err)
	}
	if len(req.Images) > limits.PeerMaxHeld {
		return nil, rpc.Status(errdefs.Invalid("Images: %d images, at most %d", len(req.Images), limits.PeerMaxHeld))
	}
	if req.Addr == "" {
		return nil, rpc.Status(errdefs.Invalid("Addr: empty"))
	}
	x.record(Holder{NodeID: id.NodeID, Addr: req.Addr, Manager: id.Role == ca.ManagerRole}, req)
	return &AnnounceResponse{Period: limits.PeerAnnouncePeriod}, nil
}

func (x *Index) record(h Holder, req *AnnounceRequest) {
	a := &announced{holder: h, at: x.now(), digests: map[digest.Digest]bool{}, names: map[string]digest.Digest{}}
	for _, im := range req.Images {
		if im.Digest.Validate() != nil {
			continue
		}
		a.digests[im.Digest] = true
		a.names[im.Name] = im.Digest
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.nodes[h.NodeID] = a
}

// Holders answers who holds an image (Lookup) to another node.
func (x *Index) Holders(_ context.Context, req *HoldersRequest) (*HoldersResponse, error) {
	resp, err := x.Lookup(req)
	return resp, rpc.Status(err)
}

// Lookup answers who holds an image: by digest, or by name when the
// reference has none (the digest the holders agree on); at most
// limits.PeerMaxHolders of them, picked at random.
func (x *Index) Lookup(req *HoldersRequest) (*HoldersResponse, error) {
	d := req.Digest
	x.mu.Lock()
	x.expire()
	snapshot := make([]announced, 0, len(x.nodes))
	for _, a := range x.nodes {
		snapshot = append(snapshot, *a)
	}
	x.mu.Unlock()
	if d == "" {
		named, err := reference.ParseNormalizedNamed(req.Name)
		if err != nil {
			return nil, errdefs.Invalid("Name: %v", err)
		}
		if d, err = digestOfName(snapshot, reference.TagNameOnly(named).String()); err != nil {
			return nil, err
		}
	} else if err := d.Validate(); err != nil {
		return nil, errdefs.Invalid("Digest: %v", err)
	}
	var hs []Holder
	for _, a := range snapshot {
		if a.digests[d] {
			hs = append(hs, a.holder)
		}
	}
	return &HoldersResponse{Digest: d, Holders: Sample(hs, limits.PeerMaxHolders, rand.IntN)}, nil
}

// expire forgets nodes that have not announced for 3 periods. The
// caller holds mu.
func (x *Index) expire() {
	cutoff := x.now().Add(-3 * limits.PeerAnnouncePeriod)
	for id, a := range x.nodes {
		if a.at.Before(cutoff) {
			delete(x.nodes, id)
		}
	}
}

// digestOfName is the digest the nodes hold under name; a conflict when
// they hold different ones (the same tag loaded with different content),
// which a pin must not pick at random.
func digestOfName(nodes []announced, name string) (digest.Digest, error) {
	var found digest.Digest
	for _, a := range nodes {
		d, ok := a.names[name]
		if !ok {
			continue
		}
		if found != "" && d != found {
			return "", errdefs.Conflict("nodes hold %s as different images (%s and %s)", name, found, d)
		}
		found = d
	}
	if found == "" {
		return "", errdefs.NotFound("no node holds %s", name)
	}
	return found, nil
}

// PinRef is ref pinned to the digest the swarm's nodes hold it as
// ("name:tag@sha256:…"); ok is false when ref is pinned already or no
// node holds it.
func (x *Index) PinRef(ref string) (string, bool, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", false, errdefs.Invalid("invalid reference format %q: %w", ref, err)
	}
	if _, ok := named.(reference.Canonical); ok {
		return "", false, nil
	}
	resp, err := x.Lookup(&HoldersRequest{Name: named.String()})
	if err != nil {
		if errdefs.Is(err, errdefs.KindNotFound) {
			return "", false, nil
		}
		return "", false, err
	}
	return ref + "@" + resp.Digest.String(), true, nil
}

var indexDesc = grpc.ServiceDesc{
	ServiceName: "shoal.ImageIndex",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Announce", Handler: rpc.Unary(MethodAnnounce, (*Index).Announce)},
		{MethodName: "Holders", Handler: rpc.Unary(MethodHolders, (*Index).Holders)},
	},
}

// String is for logs.
func (h Holder) String() string {
	role := "worker"
	if h.Manager {
		role = "manager"
	}
	return fmt.Sprintf("%s (%s %s)", h.NodeID, role, h.Addr)
}
