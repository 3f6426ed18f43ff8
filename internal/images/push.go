package images

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	ctrimages "github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/semaphore"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// maxConcurrentUploads is how many blobs a push sends at once, dockerd's
// default --max-concurrent-uploads.
const maxConcurrentUploads = 5

// Pushed is what a push of one tag sent: docker push prints
// "TAG: digest: DIGEST size: SIZE" from it.
type Pushed struct {
	Tag    string
	Digest digest.Digest
	Size   int64
}

// PushProgress is a line of docker push's progress: ID is a layer's
// short digest, "" for the repository line; while a layer is "Pushing",
// Current of its Total bytes have been sent.
type PushProgress struct {
	ID, Status     string
	Current, Total int64
}

// Push sends the image ref names to its registry with the credentials ctx
// carries (registryauth.NewContext): this platform's manifest, its config
// and the layers the registry lacks. progress, which may be nil, is told
// per layer what docker push shows ("Preparing", "Pushing" with the bytes
// sent, "Pushed", "Layer already exists"), with the layer's short digest
// as ID, and once with no ID "The push refers to repository [NAME]".
func (s *Store) Push(ctx context.Context, ref string, progress func(PushProgress)) (Pushed, error) {
	report := func(PushProgress) {}
	if progress != nil {
		// Layers are sent in parallel; progress sees one line at a time.
		var mu sync.Mutex
		report = func(p PushProgress) {
			mu.Lock()
			defer mu.Unlock()
			progress(p)
		}
	}
	named, err := normalize(ref)
	if err != nil {
		return Pushed{}, err
	}
	tagged, ok := named.(reference.NamedTagged)
	if !ok {
		return Pushed{}, errdefs.Invalid("push %s: a tag is required, not a digest", ref)
	}
	defer timeAction("push", time.Now())
	ctx = s.ctx(ctx)
	rec, err := s.c.ImageService().Get(ctx, named.String())
	if cerrdefs.IsNotFound(err) {
		return Pushed{}, errdefs.NotFound("An image does not exist locally with the tag: %s", reference.FamiliarName(named))
	}
	if err != nil {
		return Pushed{}, classify(fmt.Errorf("get image %s: %w", ref, err))
	}
	cs := s.c.ContentStore()
	// Of an index only this platform's manifest is sent: a pulled
	// image's other platforms are not on the node.
	desc := rec.Target
	if ctrimages.IsIndexType(desc.MediaType) {
		if desc, err = s.platformManifest(ctx, cs, rec.Target); err != nil {
			return Pushed{}, err
		}
	}
	m, err := ctrimages.Manifest(ctx, cs, desc, s.platform)
	if err != nil {
		return Pushed{}, classify(fmt.Errorf("manifest of %s: %w", ref, err))
	}
	resolver, err := s.resolver(ctx, nil)
	if err != nil {
		return Pushed{}, err
	}
	pusher, err := resolver.Pusher(ctx, named.String())
	if err != nil {
		return Pushed{}, pushError(named, err)
	}
	report(PushProgress{Status: "The push refers to repository [" + named.Name() + "]"})
	layers := make(map[digest.Digest]bool, len(m.Layers))
	for _, l := range m.Layers {
		layers[l.Digest] = true
		report(PushProgress{ID: shortID(l.Digest), Status: "Preparing"})
	}
	rp := &reportingPusher{Pusher: pusher, layers: layers, progress: report}
	if err := remotes.PushContent(ctx, rp, desc, cs, semaphore.NewWeighted(maxConcurrentUploads), s.platform, nil); err != nil {
		return Pushed{}, pushError(named, err)
	}
	fam := reference.FamiliarString(named)
	s.log.Info("pushed image", "image", fam, "image.digest", desc.Digest)
	s.event(events.ActionPush, fam, fam)
	return Pushed{Tag: tagged.Tag(), Digest: desc.Digest, Size: desc.Size}, nil
}

// platformManifest picks this node's platform's manifest in an index.
func (s *Store) platformManifest(ctx context.Context, cs content.Provider, index ocispec.Descriptor) (ocispec.Descriptor, error) {
	var found *ocispec.Descriptor
	err := ctrimages.Walk(ctx, ctrimages.HandlerFunc(func(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if ctrimages.IsManifestType(d.MediaType) {
			if found == nil && (d.Platform == nil || s.platform.Match(*d.Platform)) {
				found = &d
			}
			return nil, nil
		}
		return ctrimages.Children(ctx, cs, d)
	}), index)
	if err != nil {
		return ocispec.Descriptor{}, classify(fmt.Errorf("read index %s: %w", index.Digest, err))
	}
	if found == nil {
		return ocispec.Descriptor{}, errdefs.NotFound("no manifest for this node's platform in index %s", index.Digest)
	}
	return *found, nil
}

// pushError classifies what the registry said of a push to named.
func pushError(named reference.Named, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if u := unreachable(err); u != nil {
		return u
	}
	return classify(fmt.Errorf("push %s: %w", reference.FamiliarString(named), err))
}

// reportingPusher tells progress what becomes of each layer it sends.
type reportingPusher struct {
	remotes.Pusher
	layers   map[digest.Digest]bool // the manifest's layers; read only
	progress func(PushProgress)
}

func (p *reportingPusher) Push(ctx context.Context, desc ocispec.Descriptor) (content.Writer, error) {
	w, err := p.Pusher.Push(ctx, desc)
	if !p.layers[desc.Digest] {
		return w, err
	}
	id := shortID(desc.Digest)
	switch {
	case cerrdefs.IsAlreadyExists(err):
		p.progress(PushProgress{ID: id, Status: "Layer already exists"})
	case err == nil:
		p.progress(PushProgress{ID: id, Status: "Pushing", Total: desc.Size})
		return &reportingWriter{Writer: w, id: id, total: desc.Size, step: progressStep(desc.Size), progress: p.progress}, nil
	}
	return w, err
}

// progressStep is how many bytes of a layer of size bytes are sent
// between two progress lines: 1 %, and at least every 512 KiB, as dockerd
// reports.
func progressStep(size int64) int64 {
	return max(1, min(size/100, 512<<10))
}

// reportingWriter tells progress how much of its layer was sent, every
// step bytes, and "Pushed" once the registry committed it.
type reportingWriter struct {
	content.Writer
	id          string
	total, step int64
	sent, shown int64
	progress    func(PushProgress)
}

func (w *reportingWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	w.sent += int64(n)
	if w.sent-w.shown >= w.step {
		w.shown = w.sent
		w.progress(PushProgress{ID: w.id, Status: "Pushing", Current: w.sent, Total: w.total})
	}
	return n, err
}

// Truncate restarts the count when a blob is sent again from its start.
func (w *reportingWriter) Truncate(size int64) error {
	err := w.Writer.Truncate(size)
	if err == nil {
		w.sent, w.shown = size, size
	}
	return err
}

func (w *reportingWriter) Commit(ctx context.Context, size int64, expected digest.Digest, opts ...content.Opt) error {
	err := w.Writer.Commit(ctx, size, expected, opts...)
	if err == nil || cerrdefs.IsAlreadyExists(err) {
		w.progress(PushProgress{ID: w.id, Status: "Pushed"})
	}
	return err
}
