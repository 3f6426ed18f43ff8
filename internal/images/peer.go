package images

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/remotes"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Peers fetches images from other nodes of the swarm (imagepeer.Client):
// Ensure asks it before the registry.
type Peers interface {
	// Fetch gets ref from a node that holds it, through PullFrom; an
	// errdefs.NotFound error when no node does.
	Fetch(ctx context.Context, ref string) (client.Image, error)
}

// peersBox holds the Peers a swarm node sets once it is in a swarm.
type peersBox struct{ p Peers }

// SetPeers makes Ensure try p before the registry; nil stops that (the
// node left its swarm).
func (s *Store) SetPeers(p Peers) {
	if p == nil {
		s.peers.Store(nil)
		return
	}
	s.peers.Store(&peersBox{p})
}

// pullAny gets ref from a peer of the swarm when the node is in one, then
// from its registry.
func (s *Store) pullAny(ctx context.Context, ref string) (client.Image, error) {
	if box := s.peers.Load(); box != nil {
		img, err := box.p.Fetch(ctx, ref)
		if err == nil {
			return img, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if !errdefs.Is(err, errdefs.KindNotFound) {
			s.log.Warn("fetching the image from the swarm's nodes failed; trying its registry", "image", ref, "err", err)
		}
	}
	return s.Pull(ctx, ref, nil)
}

// Hold returns a context under which the blobs that PullFrom writes stay
// in the content store, even when the pull fails, until done is called:
// a fetch retried after a failure (a busy holder) then fetches only the
// blobs still missing, and resumes the one it was writing. Without it,
// containerd's garbage collector may remove what a failed pull wrote.
func (s *Store) Hold(ctx context.Context) (context.Context, func(), error) {
	ctx, done, err := s.c.WithLease(s.ctx(ctx))
	if err != nil {
		return nil, nil, classify(fmt.Errorf("hold fetched blobs: %w", err))
	}
	return ctx, func() { done(context.WithoutCancel(ctx)) }, nil
}

// PullFrom does what Pull does with content that r gives instead of a
// registry (a peer's content store): every blob is written through the
// content store, which refuses one whose digest or size is not what its
// parent says, then the image is named ref and unpacked.
func (s *Store) PullFrom(ctx context.Context, ref string, r remotes.Resolver) (client.Image, error) {
	named, err := normalize(ref)
	if err != nil {
		return nil, err
	}
	defer timeAction("pull", time.Now())
	ctx = s.ctx(ctx)
	img, err := s.c.Pull(ctx, named.String(),
		client.WithResolver(r),
		client.WithPullUnpack,
		client.WithPullSnapshotter(s.snapshotter),
	)
	if err != nil {
		return nil, classify(fmt.Errorf("fetch %s: %w", reference.FamiliarString(named), err))
	}
	s.named(ctx, img.Target())
	fam := reference.FamiliarString(named)
	s.event(events.ActionPull, fam, fam)
	return img, nil
}

// Held is an image record this node holds: what it tells the managers so
// that other nodes find it.
type Held struct {
	Name   string // as stored: docker.io/library/busybox:latest
	Digest digest.Digest
}

// Held lists the node's named images with their targets' digests.
func (s *Store) Held(ctx context.Context) ([]Held, error) {
	recs, err := s.c.ImageService().List(s.ctx(ctx))
	if err != nil {
		return nil, classify(fmt.Errorf("list images: %w", err))
	}
	out := make([]Held, 0, len(recs))
	for _, r := range recs {
		if _, ok := parseStored(r.Name); !ok {
			continue
		}
		out = append(out, Held{Name: r.Name, Digest: r.Target.Digest})
	}
	return out, nil
}

// Target returns the target of an image record of this node whose target
// is d: the top of an image this node can serve whole. errdefs.NotFound
// when none is.
func (s *Store) Target(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	recs, err := s.c.ImageService().List(s.ctx(ctx), fmt.Sprintf("target.digest==%q", d.String()))
	if err != nil {
		return ocispec.Descriptor{}, classify(fmt.Errorf("list images: %w", err))
	}
	if len(recs) == 0 {
		return ocispec.Descriptor{}, errdefs.NotFound("no image here is %s", d)
	}
	t := recs[0].Target
	return ocispec.Descriptor{MediaType: t.MediaType, Digest: t.Digest, Size: t.Size}, nil
}

// Blob opens the blob d of the content store for reading: the file
// itself when the store can read containerd's files (Options.ContentRoot),
// once containerd says this namespace holds it.
func (s *Store) Blob(ctx context.Context, d digest.Digest) (content.ReaderAt, error) {
	cs := s.c.ContentStore()
	info, err := cs.Info(s.ctx(ctx), d)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, errdefs.NotFound("no blob %s here", d)
		}
		return nil, classify(err)
	}
	desc := ocispec.Descriptor{Digest: d, Size: info.Size}
	if s.files != nil {
		if ra, err := s.files.ReaderAt(ctx, desc); err == nil {
			return ra, nil
		}
	}
	ra, err := cs.ReaderAt(s.ctx(ctx), desc)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, errdefs.NotFound("no blob %s here", d)
		}
		return nil, classify(err)
	}
	return ra, nil
}

// LocalDigest returns ref pinned to the digest of the image this node
// holds under that name ("name:tag@sha256:…", the manifest's or index's
// digest), as dockerd pins a registry's; ok is false when ref is pinned
// already or the node does not hold it.
func (s *Store) LocalDigest(ctx context.Context, ref string) (pinned string, ok bool, err error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", false, errdefs.Invalid("invalid reference format %q: %w", ref, err)
	}
	if _, ok := named.(reference.Canonical); ok {
		return "", false, nil
	}
	named = reference.TagNameOnly(named)
	rec, err := s.c.ImageService().Get(s.ctx(ctx), named.String())
	if cerrdefs.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, classify(fmt.Errorf("get image %s: %w", ref, err))
	}
	return Pin(ref, rec.Target.Digest)
}

// Pin returns ref with d as its digest, keeping ref's own spelling of the
// name and tag (docker service ls shows it as given).
func Pin(ref string, d digest.Digest) (string, bool, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", false, errdefs.Invalid("invalid reference format %q: %w", ref, err)
	}
	if _, ok := named.(reference.Canonical); ok {
		return "", false, nil
	}
	if err := d.Validate(); err != nil {
		return "", false, errors.Join(errdefs.Invalid("digest %q", d), err)
	}
	return ref + "@" + d.String(), true, nil
}
