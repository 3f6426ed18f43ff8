package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	imgidentity "github.com/opencontainers/image-spec/identity"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/identity"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
)

// cacheLease holds every blob and snapshot a build makes, so that the layer
// cache outlives the build; removing it (and the cache directory) lets
// containerd collect what no image uses.
const cacheLease = "shoal-build-cache"

// Images is the node's image store (images.Store).
type Images interface {
	// Ensure returns the image ref names, unpacked, pulling it when it is
	// not here.
	Ensure(ctx context.Context, ref string) (client.Image, error)
	// Built names the image a build made with each tag, or keeps it as
	// a dangling image when there are none.
	Built(ctx context.Context, manifest ocispec.Descriptor, tags []string) error
}

// Config configures a Builder.
type Config struct {
	Client      *client.Client
	Namespace   string
	Snapshotter string
	Images      Images
	// Root holds the cache entries, the unpacked contexts and the RUN
	// steps' I/O pipes.
	Root   string
	Logger *slog.Logger
	// Remap is the daemon's user-namespace remapping (--userns-remap),
	// under which RUN steps run; nil for none.
	Remap *confine.Remap
}

// Builder builds images on this node.
type Builder struct {
	cfg   Config
	cache cacheStore
	// mu is held shared by builds and exclusively by Prune, which removes
	// the lease builds add their blobs and snapshots to.
	mu sync.RWMutex
}

// New returns a Builder, making its directories.
func New(cfg Config) (*Builder, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{"cache", "tmp", "fifo"} {
		if err := os.MkdirAll(filepath.Join(cfg.Root, d), 0o700); err != nil {
			return nil, fmt.Errorf("build directory: %w", err)
		}
	}
	return &Builder{cfg: cfg, cache: cacheStore{dir: filepath.Join(cfg.Root, "cache")}}, nil
}

// Output receives a build's progress as the docker CLI prints it.
type Output interface {
	// Stream is a piece of text: a step line, a step's output.
	Stream(text string)
	// Aux carries the built image's ID.
	Aux(imageID string)
}

// StepError is a step that failed: Docker's message and the code the
// client exits with.
type StepError struct {
	Msg  string
	Code int
}

func (e *StepError) Error() string { return e.Msg }

// Build builds the image the request body's context and opts describe and
// returns its ID. Everything the request gets wrong (the context, the
// Dockerfile, the target) is an errdefs.Invalid error returned before
// anything is sent to out; a step that fails is a *StepError.
func (b *Builder) Build(ctx context.Context, opts Options, body io.Reader, out Output) (string, error) {
	dir, err := os.MkdirTemp(filepath.Join(b.cfg.Root, "tmp"), "context-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := ExtractContext(body, dir, opts.Dockerfile, limits.MaxBuildContext); err != nil {
		return "", err
	}
	df, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(opts.Dockerfile)))
	if errors.Is(err, fs.ErrNotExist) {
		return "", errdefs.Invalid("dockerfile: Cannot locate specified Dockerfile: %s", opts.Dockerfile)
	}
	if err != nil {
		return "", err
	}
	plan, err := ParsePlan(df, opts.Target, opts.BuildArgs)
	if err != nil {
		return "", err
	}

	b.mu.RLock()
	defer b.mu.RUnlock()
	ctx = namespaces.WithNamespace(ctx, b.cfg.Namespace)
	if _, err := b.cfg.Client.LeasesService().Create(ctx, leases.WithID(cacheLease)); err != nil && !cerrdefs.IsAlreadyExists(err) {
		return "", fmt.Errorf("build cache lease: %w", err)
	}
	ctx = leases.WithLease(ctx, cacheLease)
	r := &run{
		b:       b,
		opts:    opts,
		plan:    plan,
		context: dir,
		out:     out,
		sn:      b.cfg.Client.SnapshotService(b.cfg.Snapshotter),
		metaEnv: MetaArgEnv(plan.MetaArgs, opts.BuildArgs),
	}
	start := time.Now()
	id, err := r.build(ctx)
	if err != nil {
		b.cfg.Logger.Info("build failed", "err", err, "duration", time.Since(start))
		return "", err
	}
	b.cfg.Logger.Info("built image", "image.id", id, "image.tags", opts.Tags, "duration", time.Since(start))
	return id, nil
}

// run is one build.
type run struct {
	b       *Builder
	opts    Options
	plan    *Plan
	context string
	out     Output
	sn      snapshots.Snapshotter
	metaEnv []string
	stages  []*stageState
	step    int
}

// stageState is a stage as built so far.
type stageState struct {
	scope  Scope
	layers []ocispec.Descriptor
	key    digest.Digest
}

func (st *stageState) chainID() string {
	if len(st.scope.Image.RootFS.DiffIDs) == 0 {
		return ""
	}
	return imgidentity.ChainID(st.scope.Image.RootFS.DiffIDs).String()
}

func (r *run) say(format string, args ...any) {
	if !r.opts.Quiet {
		r.out.Stream(fmt.Sprintf(format, args...))
	}
}

func (r *run) announce(code string) {
	r.step++
	if !r.opts.Quiet {
		r.out.Stream(StepLine(r.step, r.plan.Steps, code))
	}
}

func (r *run) build(ctx context.Context) (string, error) {
	for _, a := range r.plan.MetaArgs {
		r.announce(a.String())
	}
	for i, s := range r.plan.Stages {
		r.announce(s.SourceCode)
		st, err := r.from(ctx, s)
		if err != nil {
			return "", err
		}
		r.say(" ---> %s\n", shortImageID(st.scope.Image))
		if s.BaseStage < 0 {
			if err := r.onBuild(ctx, i, st); err != nil {
				return "", err
			}
		}
		for _, c := range s.Commands {
			r.announce(code(c))
			if err := r.do(ctx, i, st, c); err != nil {
				return "", err
			}
		}
		r.stages = append(r.stages, st)
	}
	final := r.stages[len(r.stages)-1]
	img := final.scope.Image
	if len(r.opts.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range img.Config.Labels {
			labels[k] = v
		}
		for k, v := range r.opts.Labels {
			labels[k] = v
		}
		img.Config.Labels = labels
	}
	id, err := r.commit(ctx, img, final.layers)
	if err != nil {
		return "", err
	}
	r.out.Aux(id)
	r.say("Successfully built %s\n", strings.TrimPrefix(id, "sha256:")[:12])
	for _, t := range r.opts.Tags {
		r.say("Successfully tagged %s\n", familiarName(t))
	}
	if r.opts.Quiet {
		r.out.Stream(id + "\n")
	}
	return id, nil
}

// from starts a stage: from scratch, an earlier stage, or an image, which
// is pulled when the node does not have it.
func (r *run) from(ctx context.Context, s Stage) (*stageState, error) {
	switch {
	case s.BaseStage >= 0:
		prev := r.stages[s.BaseStage]
		return &stageState{scope: Scope{Image: prev.scope.Image}, layers: prev.layers, key: prev.key}, nil
	case strings.EqualFold(s.Base, "scratch"):
		now := time.Now().UTC()
		img := dockerspec.DockerOCIImage{Image: ocispec.Image{Created: &now, Platform: platforms.DefaultSpec(), RootFS: ocispec.RootFS{Type: "layers"}}}
		return &stageState{scope: Scope{Image: img}, key: StepKey("", "FROM scratch")}, nil
	}
	img, err := r.b.cfg.Images.Ensure(ctx, s.Base)
	if err != nil {
		return nil, err
	}
	cs := img.ContentStore()
	m, err := imageManifest(ctx, cs, img)
	if err != nil {
		return nil, err
	}
	b, err := content.ReadBlob(ctx, cs, m.Config)
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", s.Base, err)
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("config of %s: %w", s.Base, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image %s has %d layers and %d diff IDs", s.Base, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	return &stageState{scope: Scope{Image: cfg}, layers: m.Layers, key: StepKey("", "FROM", m.Config.Digest.String())}, nil
}

// onBuild runs the ONBUILD triggers the base image carries, as Docker does
// right after FROM, and drops them from the image being built.
func (r *run) onBuild(ctx context.Context, stage int, st *stageState) error {
	triggers := st.scope.Image.Config.OnBuild
	if len(triggers) == 0 {
		return nil
	}
	plural := ""
	if len(triggers) > 1 {
		plural = "s"
	}
	r.say("# Executing %d build trigger%s\n", len(triggers), plural)
	st.scope.Image.Config.OnBuild = nil
	for _, t := range triggers {
		c, err := parseTrigger(t)
		if err != nil {
			return err
		}
		if err := r.do(ctx, stage, st, c); err != nil {
			return err
		}
	}
	return nil
}

// shortImageID is the 12 hex digits Docker shows of an image's ID.
func shortImageID(img dockerspec.DockerOCIImage) string {
	b, _ := json.Marshal(img)
	return digest.FromBytes(b).Encoded()[:12]
}

// commit writes the image's config and manifest and names it.
func (r *run) commit(ctx context.Context, img dockerspec.DockerOCIImage, layers []ocispec.Descriptor) (string, error) {
	cs := r.b.cfg.Client.ContentStore()
	cfgDesc, err := writeBlob(ctx, cs, ocispec.MediaTypeImageConfig, img, nil)
	if err != nil {
		return "", err
	}
	labels := map[string]string{"containerd.io/gc.ref.content.config": cfgDesc.Digest.String()}
	for i, l := range layers {
		labels[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)] = l.Digest.String()
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    layers,
	}
	if manifest.Layers == nil {
		manifest.Layers = []ocispec.Descriptor{}
	}
	mDesc, err := writeBlob(ctx, cs, ocispec.MediaTypeImageManifest, manifest, labels)
	if err != nil {
		return "", err
	}
	// The config holds the image's unpacked snapshot for the collector,
	// as containerd's own unpack labels it.
	if chain := chainOf(img); chain != "" {
		info := content.Info{Digest: cfgDesc.Digest, Labels: map[string]string{"containerd.io/gc.ref.snapshot." + r.b.cfg.Snapshotter: chain}}
		if _, err := cs.Update(ctx, info, "labels.containerd.io/gc.ref.snapshot."+r.b.cfg.Snapshotter); err != nil {
			return "", fmt.Errorf("label image config: %w", err)
		}
	}
	if err := r.b.cfg.Images.Built(ctx, mDesc, r.opts.Tags); err != nil {
		return "", err
	}
	return cfgDesc.Digest.String(), nil
}

func chainOf(img dockerspec.DockerOCIImage) string {
	if len(img.RootFS.DiffIDs) == 0 {
		return ""
	}
	return imgidentity.ChainID(img.RootFS.DiffIDs).String()
}

func writeBlob(ctx context.Context, cs content.Store, mediaType string, v any, labels map[string]string) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	ref := "shoal-build-" + identity.NewID()
	if err := content.WriteBlob(ctx, cs, ref, strings.NewReader(string(b)), desc, content.WithLabels(labels)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write %s: %w", mediaType, err)
	}
	return desc, nil
}
