package build

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	ctrimages "github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	imgidentity "github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
)

// do carries out one instruction of stage, from the cache when it can.
func (r *run) do(ctx context.Context, stage int, st *stageState, c instructions.Command) error {
	if err := st.scope.Expand(c, r.plan.Lex); err != nil {
		return err
	}
	desc, err := json.Marshal(c)
	if err != nil {
		return err
	}
	extra := []string{string(desc)}
	if a, ok := c.(*instructions.ArgCommand); ok {
		for _, kv := range a.Args {
			st.scope.DeclareArg(kv, r.opts.BuildArgs, r.metaEnv)
		}
		extra = append(extra, st.scope.Args...)
	}
	if _, ok := c.(*instructions.CmdCommand); ok {
		st.scope.CmdSet = true
	}

	var copySrc *copySource
	switch c := c.(type) {
	case *instructions.RunCommand:
		extra = append(extra, st.scope.RunEnv()...)
	case *instructions.CopyCommand:
		if copySrc, err = r.copySource(ctx, stage, c.From, c.SourcePaths); err != nil {
			return err
		}
		extra = append(extra, copySrc.key)
	case *instructions.AddCommand:
		if copySrc, err = r.copySource(ctx, stage, "", c.SourcePaths); err != nil {
			return err
		}
		extra = append(extra, copySrc.key)
	}
	key := StepKey(st.key, code(c), extra...)

	if !r.opts.NoCache {
		if e, ok := r.b.cache.get(key); ok && r.usable(ctx, e) {
			r.say(" ---> Using cache\n")
			st.scope.Image, st.layers, st.key = e.Image, e.Layers, key
			r.say(" ---> %s\n", shortImageID(st.scope.Image))
			return nil
		}
	}

	now := time.Now().UTC()
	switch c := c.(type) {
	case *instructions.RunCommand:
		argv := st.scope.CommandLine(c.ShellDependantCmdLine)
		if err := r.runLayer(ctx, st, argv); err != nil {
			return err
		}
		st.scope.AddHistory(now, strings.Join(argv, " "), false)
	case *instructions.CopyCommand:
		if err := r.copyStep(ctx, st, copySrc, c.SourcePaths, c.DestPath, c.Chown, c.Chmod, false, code(c)); err != nil {
			return err
		}
		st.scope.AddHistory(now, "/bin/sh -c #(nop) "+code(c), false)
	case *instructions.AddCommand:
		if err := r.copyStep(ctx, st, copySrc, c.SourcePaths, c.DestPath, c.Chown, c.Chmod, true, code(c)); err != nil {
			return err
		}
		st.scope.AddHistory(now, "/bin/sh -c #(nop) "+code(c), false)
	case *instructions.ArgCommand:
	default:
		ok, err := st.scope.ApplyMeta(c)
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.Invalid("%s: instruction not supported by this builder", code(c))
		}
		st.scope.AddHistory(now, "/bin/sh -c #(nop) "+code(c), true)
	}
	st.key = key
	if err := r.b.cache.put(key, cacheEntry{Image: st.scope.Image, Layers: st.layers}); err != nil {
		r.b.cfg.Logger.Warn("cannot write build cache entry", "err", err)
	}
	r.say(" ---> %s\n", shortImageID(st.scope.Image))
	return nil
}

// usable reports whether what a cache entry names is still there: its
// last layer's blob and its snapshot.
func (r *run) usable(ctx context.Context, e cacheEntry) bool {
	if len(e.Layers) == 0 {
		return true
	}
	if _, err := r.b.cfg.Client.ContentStore().Info(ctx, e.Layers[len(e.Layers)-1].Digest); err != nil {
		return false
	}
	_, err := r.sn.Stat(ctx, imgidentity.ChainID(e.Image.RootFS.DiffIDs).String())
	return err == nil
}

// layer makes a layer over the stage's root filesystem: apply changes an
// active snapshot, whose difference from its parent becomes the layer and
// whose commit, named by its chain ID, is the unpacked image.
func (r *run) layer(ctx context.Context, st *stageState, apply func(ctx context.Context, active string, mounts []mount.Mount) error) error {
	return r.addLayer(ctx, st, func(ctx context.Context, active string, mounts []mount.Mount) (ocispec.Descriptor, error) {
		if err := apply(ctx, active, mounts); err != nil {
			return ocispec.Descriptor{}, err
		}
		desc, err := rootfs.CreateDiff(ctx, active, r.sn, r.b.cfg.Client.DiffService(), diff.WithMediaType(ocispec.MediaTypeImageLayer))
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("diff the step's changes: %w", err)
		}
		return desc, nil
	})
}

// addLayer adds to the stage the layer change returns (uncompressed, its
// digest its diffID), having changed the active snapshot over the stage's
// root filesystem as the layer does; the snapshot's commit, named by its
// chain ID, is the unpacked image.
func (r *run) addLayer(ctx context.Context, st *stageState, change func(ctx context.Context, active string, mounts []mount.Mount) (ocispec.Descriptor, error)) error {
	active := "shoal-build-" + identity.NewID()
	mounts, err := r.sn.Prepare(ctx, active, st.chainID())
	if err != nil {
		return fmt.Errorf("prepare snapshot: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			r.sn.Remove(context.WithoutCancel(ctx), active)
		}
	}()
	desc, err := change(ctx, active, mounts)
	if err != nil {
		return err
	}
	diffIDs := append(slices.Clone(st.scope.Image.RootFS.DiffIDs), desc.Digest)
	chain := imgidentity.ChainID(diffIDs).String()
	switch err := r.sn.Commit(ctx, chain, active); {
	case err == nil:
		committed = true
	case cerrdefs.IsAlreadyExists(err):
	default:
		return fmt.Errorf("commit snapshot: %w", err)
	}
	st.scope.Image.RootFS.Type = "layers"
	st.scope.Image.RootFS.DiffIDs = diffIDs
	st.layers = append(slices.Clone(st.layers), desc)
	return nil
}

// copySource is where a COPY or ADD reads: the context, an earlier
// stage's root filesystem, or an image's; key digests what it reads.
type copySource struct {
	dir   string // the context directory; empty when chain is used
	chain string // the snapshot of the stage or image, "" for an empty one
	stage bool   // an image's or stage's files keep their owners
	key   string
}

func (r *run) copySource(ctx context.Context, stage int, from string, srcs []string) (*copySource, error) {
	if from == "" {
		matches, err := matchSources(r.context, srcs, "COPY")
		if err != nil {
			return nil, err
		}
		d, err := sourcesDigest(r.context, matches)
		if err != nil {
			return nil, err
		}
		return &copySource{dir: r.context, key: "context:" + d}, nil
	}
	if i, ok := StageIndex(r.plan.Stages, stage, from); ok {
		prev := r.stages[i]
		return &copySource{chain: prev.chainID(), stage: true, key: "stage:" + prev.key.String()}, nil
	}
	img, err := r.b.cfg.Images.Ensure(ctx, from)
	if err != nil {
		return nil, err
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return nil, err
	}
	chain := ""
	if len(diffIDs) > 0 {
		chain = imgidentity.ChainID(diffIDs).String()
	}
	return &copySource{chain: chain, stage: true, key: "image:" + chain}, nil
}

// copyStep makes the layer of a COPY or ADD.
func (r *run) copyStep(ctx context.Context, st *stageState, src *copySource, srcs []string, dest, chown, chmod string, extract bool, instruction string) error {
	return r.layer(ctx, st, func(ctx context.Context, _ string, mounts []mount.Mount) error {
		return withMounted(r.b.cfg.Root, mounts, func(root string) error {
			srcDir, release, err := r.sourceDir(ctx, src)
			if err != nil {
				return err
			}
			defer release()
			owner, err := parseChown(root, chown)
			if err != nil {
				return &StepError{Msg: fmt.Sprintf("%s: %v", instruction, err), Code: 1}
			}
			mode, err := parseChmod(chmod)
			if err != nil {
				return &StepError{Msg: fmt.Sprintf("%s: %v", instruction, err), Code: 1}
			}
			d := resolvePath(st.scope.Image.Config.WorkingDir, dest)
			if strings.HasSuffix(dest, "/") && !strings.HasSuffix(d, "/") {
				d += "/"
			}
			return copySources(ctx, copySpec{
				srcRoot: srcDir, srcs: srcs, dstRoot: root, dest: d,
				owner: owner, keepOwner: src.stage, mode: mode, extract: extract, instruction: instruction,
			})
		})
	})
}

// sourceDir gives the directory a copy reads, mounting a stage's or
// image's snapshot read-only for it.
func (r *run) sourceDir(ctx context.Context, src *copySource) (string, func(), error) {
	if src.dir != "" {
		return src.dir, func() {}, nil
	}
	dir, err := os.MkdirTemp(r.b.cfg.Root+"/tmp", "from-")
	if err != nil {
		return "", nil, err
	}
	if src.chain == "" {
		return dir, func() { os.RemoveAll(dir) }, nil
	}
	view := "shoal-build-view-" + identity.NewID()
	mounts, err := r.sn.View(ctx, view, src.chain)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("view snapshot: %w", err)
	}
	if err := mount.All(mounts, dir); err != nil {
		r.sn.Remove(ctx, view)
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("mount snapshot: %w", err)
	}
	return dir, func() {
		mount.UnmountAll(dir, 0)
		r.sn.Remove(context.WithoutCancel(ctx), view)
		os.RemoveAll(dir)
	}, nil
}

// withMounted mounts a snapshot's mounts on a temporary directory for fn.
func withMounted(root string, mounts []mount.Mount, fn func(dir string) error) error {
	dir, err := os.MkdirTemp(root+"/tmp", "rootfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := mount.All(mounts, dir); err != nil {
		return fmt.Errorf("mount snapshot: %w", err)
	}
	defer mount.UnmountAll(dir, 0)
	return fn(dir)
}

// imageManifest reads an image's manifest for this platform.
func imageManifest(ctx context.Context, cs content.Store, img client.Image) (ocispec.Manifest, error) {
	m, err := ctrimages.Manifest(ctx, cs, img.Target(), platforms.Default())
	if err != nil {
		return ocispec.Manifest{}, fmt.Errorf("manifest of %s: %w", img.Name(), err)
	}
	return m, nil
}

// parseTrigger reads an ONBUILD trigger as an instruction.
func parseTrigger(expr string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(expr))
	if err != nil || len(res.AST.Children) != 1 {
		return nil, errdefs.Invalid("ONBUILD %s: cannot parse the trigger: %v", expr, err)
	}
	c, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		return nil, errdefs.Invalid("ONBUILD %s: %v", expr, err)
	}
	if err := supported(c); err != nil {
		return nil, err
	}
	return c, nil
}

// familiarName is how Docker shows a tag: "foo:latest", not
// "docker.io/library/foo:latest".
func familiarName(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(named)
}
