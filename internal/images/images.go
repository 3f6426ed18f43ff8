// Package images keeps container images in containerd and shows them in the
// Docker Engine API's shapes: Docker's reference normalisation and display
// names, pulls from and pushes to registries (plain HTTP for insecure ones,
// with the credentials a request carries), docker login's check, docker
// import, load, save and commit, and the image list, inspect, history, tag,
// remove and prune answers.
package images

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	ctrimages "github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins/content/local"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/metrics"
)

// Options configure a Store.
type Options struct {
	Namespace   string // containerd namespace; "shoal" when empty
	Snapshotter string // "overlayfs" when empty
	// InsecureRegistries are host:port registries reached over plain HTTP,
	// e.g. 127.0.0.1:5000. Loopback registries always are, as in Docker.
	InsecureRegistries []string
	Logger             *slog.Logger
	// ContentRoot is the directory of containerd's content store on this
	// host (privatecontainerd.Process.ContentRoot), when containerd runs
	// here with a known root: Blob then reads a blob's file itself
	// instead of through containerd's API, which copies every MiB
	// through a Read call and protobuf (image fetches between nodes,
	// docs/IMAGES-PEER.md). Empty reads through the API.
	ContentRoot string
	// Events, when set, records pulls, tags, untags, deletes, imports and
	// loads (docker events).
	Events EventLogger
}

// EventLogger records what happens to images (events.Bus).
type EventLogger interface {
	Log(action events.Action, typ events.Type, actor events.Actor)
}

// Store is the node's image store, in containerd.
type Store struct {
	c           *client.Client
	ns          string
	snapshotter string
	files       content.Store // containerd's content store read from its files; nil: through the API
	insecure    []string
	log         *slog.Logger
	platform    platforms.MatchComparer
	pulls       singleflight.Group       // Ensure's pulls, by reference
	events      EventLogger              // nil for none
	peers       atomic.Pointer[peersBox] // nil outside a swarm (SetPeers)
}

// New returns a Store over c.
func New(c *client.Client, opts Options) *Store {
	if opts.Namespace == "" {
		opts.Namespace = "shoal"
	}
	if opts.Snapshotter == "" {
		opts.Snapshotter = "overlayfs"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var files content.Store
	if opts.ContentRoot != "" {
		var err error
		if files, err = local.NewStore(opts.ContentRoot); err != nil {
			opts.Logger.Warn("cannot read containerd's content store directly; reading blobs through its API", "path", opts.ContentRoot, "err", err)
		}
	}
	return &Store{
		c:           c,
		files:       files,
		ns:          opts.Namespace,
		snapshotter: opts.Snapshotter,
		insecure:    slices.Clone(opts.InsecureRegistries),
		log:         opts.Logger,
		platform:    platforms.Default(),
		events:      opts.Events,
	}
}

// event logs an image event as dockerd does: the actor is the image (its
// ID, or the reference pulled), name the reference it concerns.
func (s *Store) event(action events.Action, id, name string) {
	if s.events == nil {
		return
	}
	s.events.Log(action, events.ImageEventType, events.Actor{ID: id, Attributes: map[string]string{"name": name}})
}

// timeAction records how long an image action took (dockerd's
// engine_daemon_image_actions_seconds).
func timeAction(action string, start time.Time) {
	metrics.ImageActions.WithLabelValues(action).Observe(time.Since(start).Seconds())
}

// noSuchImage is the error Docker gives for an image that is not there; the
// message is exactly Docker's, the cause is kept for the log.
func noSuchImage(ref string, cause error) error {
	return &errdefs.Error{Kind: errdefs.KindNotFound, Msg: "No such image: " + ref, Err: cause}
}

func (s *Store) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, s.ns)
}

// image wraps a record as a client.Image for this node's platform.
func (s *Store) image(rec ctrimages.Image) client.Image {
	return client.NewImageWithPlatform(s.c, rec, s.platform)
}

// info is what the Docker API shows of an image, read from its content.
type info struct {
	id       digest.Digest // the config digest: Docker's image ID
	config   dockerspec.DockerOCIImage
	manifest ocispec.Manifest
}

func (s *Store) describe(ctx context.Context, rec ctrimages.Image) (info, error) {
	cs := s.c.ContentStore()
	m, err := ctrimages.Manifest(ctx, cs, rec.Target, s.platform)
	if err != nil {
		return info{}, fmt.Errorf("manifest of %s: %w", rec.Name, err)
	}
	cfg, err := readConfig(ctx, cs, m.Config)
	if err != nil {
		return info{}, fmt.Errorf("config of %s: %w", rec.Name, err)
	}
	return info{id: m.Config.Digest, config: cfg, manifest: m}, nil
}

func readConfig(ctx context.Context, cs content.Provider, desc ocispec.Descriptor) (dockerspec.DockerOCIImage, error) {
	b, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return dockerspec.DockerOCIImage{}, err
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(b, &cfg); err != nil {
		return dockerspec.DockerOCIImage{}, fmt.Errorf("decode image config %s: %w", desc.Digest, err)
	}
	return cfg, nil
}

// Config returns the image's container config, what a container made from
// it runs: entrypoint, cmd, env, working dir, user, stop signal, and the
// health check when the image has one.
func (s *Store) Config(ctx context.Context, img client.Image) (dockerspec.DockerOCIImageConfig, error) {
	ctx = s.ctx(ctx)
	desc, err := img.Config(ctx)
	if err != nil {
		return dockerspec.DockerOCIImageConfig{}, classify(fmt.Errorf("config of image %s: %w", img.Name(), err))
	}
	cfg, err := readConfig(ctx, img.ContentStore(), desc)
	if err != nil {
		return dockerspec.DockerOCIImageConfig{}, classify(fmt.Errorf("config of image %s: %w", img.Name(), err))
	}
	return cfg.Config, nil
}

// record is one image record with what describe found, for lookups.
type record struct {
	rec  ctrimages.Image
	info info
}

// records lists every image record that can be described; one whose content
// is broken is logged and left out rather than failing the whole list.
func (s *Store) records(ctx context.Context) ([]record, error) {
	recs, err := s.c.ImageService().List(ctx)
	if err != nil {
		return nil, classify(fmt.Errorf("list images: %w", err))
	}
	out := make([]record, 0, len(recs))
	for _, r := range recs {
		inf, err := s.describe(ctx, r)
		if err != nil {
			s.log.Warn("skipping unreadable image", "image.name", r.Name, "err", err)
			continue
		}
		out = append(out, record{rec: r, info: inf})
	}
	return out, nil
}

// lookup finds the records that ref names, as Docker resolves an image
// argument: a name first, then an image ID or a unique prefix of one. With a
// name it returns that record only; with an ID, every record of the image.
func (s *Store) lookup(ctx context.Context, ref string) (recs []record, byName bool, err error) {
	named, nerr := normalize(ref)
	if nerr == nil {
		rec, err := s.c.ImageService().Get(ctx, named.String())
		if cerrdefs.IsNotFound(err) {
			rec, err = s.byRepoDigest(ctx, named)
		}
		if err == nil {
			inf, err := s.describe(ctx, rec)
			if err != nil {
				return nil, false, classify(err)
			}
			return []record{{rec: rec, info: inf}}, true, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return nil, false, classify(fmt.Errorf("get image %s: %w", ref, err))
		}
	}
	hex, ok := idPrefix(ref)
	if !ok {
		if nerr != nil {
			return nil, false, nerr
		}
		return nil, false, noSuchImage(ref, nil)
	}
	all, err := s.records(ctx)
	if err != nil {
		return nil, false, err
	}
	var id digest.Digest
	for _, r := range all {
		if len(r.info.id.Encoded()) < len(hex) || r.info.id.Encoded()[:len(hex)] != hex {
			continue
		}
		if id != "" && r.info.id != id {
			return nil, false, errdefs.Invalid("image ID prefix %s is ambiguous: it matches %s and %s", ref, shortID(id), shortID(r.info.id))
		}
		id = r.info.id
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return nil, false, noSuchImage(ref, nil)
	}
	return recs, false, nil
}

// byRepoDigest finds a record of the same repository whose target is the
// digest that named pins: a service pins "busybox@sha256:…" while the node
// has the image as busybox:latest.
func (s *Store) byRepoDigest(ctx context.Context, named reference.Named) (ctrimages.Image, error) {
	canonical, ok := named.(reference.Canonical)
	if !ok {
		return ctrimages.Image{}, cerrdefs.ErrNotFound
	}
	recs, err := s.c.ImageService().List(ctx, "target.digest=="+strconv.Quote(canonical.Digest().String()))
	if err != nil {
		return ctrimages.Image{}, err
	}
	for _, r := range recs {
		if stored, ok := parseStored(r.Name); ok && stored.Name() == named.Name() {
			return r, nil
		}
	}
	return ctrimages.Image{}, cerrdefs.ErrNotFound
}

// classify gives containerd's and the registry's errors our kinds.
func classify(err error) error {
	if err == nil || errdefs.KindOf(err) != errdefs.KindUnknown {
		return err
	}
	switch {
	case cerrdefs.IsNotFound(err):
		return &errdefs.Error{Kind: errdefs.KindNotFound, Err: err}
	case cerrdefs.IsInvalidArgument(err):
		return &errdefs.Error{Kind: errdefs.KindInvalid, Err: err}
	case cerrdefs.IsAlreadyExists(err), cerrdefs.IsConflict(err):
		return &errdefs.Error{Kind: errdefs.KindConflict, Err: err}
	case cerrdefs.IsUnavailable(err):
		return &errdefs.Error{Kind: errdefs.KindUnavailable, Err: err}
	case cerrdefs.IsPermissionDenied(err), cerrdefs.IsUnauthorized(err):
		return &errdefs.Error{Kind: errdefs.KindForbidden, Err: err}
	}
	return err
}
