package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	ctrimages "github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
)

// Import makes an image of one layer from a root filesystem tar (plain or
// compressed), named ref (or dangling when ref is empty), with changes
// applied to its config, as docker import does. It returns the image ID.
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, changes []string) (string, error) {
	name := ""
	if ref != "" {
		named, err := normalize(ref)
		if err != nil {
			return "", err
		}
		if _, ok := named.(reference.Digested); ok {
			return "", errdefs.Invalid("cannot import to a digest reference: %s", ref)
		}
		name = named.String()
	}
	var cfg dockerspec.DockerOCIImageConfig
	if err := applyChanges(&cfg, changes); err != nil {
		return "", err
	}
	start := time.Now()

	ctx = s.ctx(ctx)
	ctx, done, err := s.c.WithLease(ctx)
	if err != nil {
		return "", classify(fmt.Errorf("import: %w", err))
	}
	defer done(context.WithoutCancel(ctx))

	rd, err := compression.DecompressStream(r)
	if err != nil {
		return "", errdefs.Invalid("import: read the root filesystem archive: %w", err)
	}
	defer rd.Close()
	cs := s.c.ContentStore()
	layer, err := ingest(ctx, cs, ocispec.MediaTypeImageLayer, rd)
	if err != nil {
		return "", err
	}

	now := time.Now().UTC()
	img := dockerspec.DockerOCIImage{
		Image: ocispec.Image{
			Created:  &now,
			Platform: platforms.DefaultSpec(),
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}},
			History:  []ocispec.History{{Created: &now, Comment: "Imported from -"}},
		},
		Config: cfg,
	}
	configDesc, err := writeJSON(ctx, cs, ocispec.MediaTypeImageConfig, img, nil)
	if err != nil {
		return "", err
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layer},
	}
	// The labels tell containerd's collector what the manifest holds on to.
	manifestDesc, err := writeJSON(ctx, cs, ocispec.MediaTypeImageManifest, manifest, map[string]string{
		"containerd.io/gc.ref.content.config": configDesc.Digest.String(),
		"containerd.io/gc.ref.content.l.0":    layer.Digest.String(),
	})
	if err != nil {
		return "", err
	}

	if name == "" {
		name = danglingPrefix + manifestDesc.Digest.String()
	}
	// Unpacked before it is named, so that an archive that cannot be
	// applied leaves no image behind; the lease keeps its content until
	// then.
	if err := s.unpack(ctx, s.image(ctrimages.Image{Name: name, Target: manifestDesc})); err != nil {
		return "", badLayer("import", err)
	}
	if err := s.setName(ctx, name, manifestDesc); err != nil {
		return "", err
	}
	s.log.Info("imported image", "image.name", name, "image.id", configDesc.Digest)
	evName := configDesc.Digest.String()
	if fam, ok := familiar(name); ok {
		evName = fam
	}
	s.event(events.ActionImport, configDesc.Digest.String(), evName)
	timeAction("import", start)
	return configDesc.Digest.String(), nil
}

// ingest copies r into the content store, learning its digest on the way.
func ingest(ctx context.Context, cs content.Ingester, mediaType string, r io.Reader) (ocispec.Descriptor, error) {
	w, err := cs.Writer(ctx, content.WithRef("shoal-import-"+identity.NewID()))
	if err != nil {
		return ocispec.Descriptor{}, classify(fmt.Errorf("import: open content writer: %w", err))
	}
	defer w.Close()
	digester := digest.Canonical.Digester()
	n, err := io.Copy(w, io.TeeReader(r, digester.Hash()))
	if err != nil {
		return ocispec.Descriptor{}, errdefs.Invalid("import: read the root filesystem archive: %w", err)
	}
	dgst := digester.Digest()
	if err := w.Commit(ctx, n, dgst); err != nil && !cerrdefs.IsAlreadyExists(err) {
		return ocispec.Descriptor{}, classify(fmt.Errorf("import: store layer: %w", err))
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: dgst, Size: n}, nil
}

func writeJSON(ctx context.Context, cs content.Ingester, mediaType string, v any, labels map[string]string) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	ref := "shoal-" + strings.ReplaceAll(desc.Digest.String(), ":", "-")
	if err := content.WriteBlob(ctx, cs, ref, bytes.NewReader(b), desc, content.WithLabels(labels)); err != nil {
		return ocispec.Descriptor{}, classify(fmt.Errorf("write %s: %w", mediaType, err))
	}
	return desc, nil
}

// Load imports the images of a docker save or OCI archive and returns what
// was loaded: the names as Docker shows them ("busybox:latest"), or the
// image ID ("sha256:…") of an image the archive does not name.
func (s *Store) Load(ctx context.Context, r io.Reader) ([]string, error) {
	ctx = s.ctx(ctx)
	start := time.Now()
	before := map[string]ctrimages.Image{}
	recs, err := s.c.ImageService().List(ctx)
	if err != nil {
		return nil, classify(fmt.Errorf("load: %w", err))
	}
	for _, rec := range recs {
		before[rec.Name] = rec
	}

	imgs, err := s.c.Import(ctx, r,
		client.WithImageRefTranslator(ociRefName),
		client.WithDigestRef(func(d digest.Digest) string { return danglingPrefix + d.String() }),
		client.WithSkipDigestRef(func(name string) bool { return name != "" }),
	)
	if err != nil {
		if errdefs.KindOf(classify(err)) == errdefs.KindUnknown {
			return nil, errdefs.Invalid("load: not a docker save or OCI archive: %w", err)
		}
		return nil, classify(fmt.Errorf("load: %w", err))
	}
	// Every image is unpacked before any is kept: an archive with a layer
	// that cannot be applied loads nothing.
	for _, rec := range imgs {
		if err := s.unpack(ctx, s.image(rec)); err != nil {
			s.restore(ctx, imgs, before)
			return nil, badLayer("load", err)
		}
	}
	var loaded []string
	for _, rec := range imgs {
		if old, ok := before[rec.Name]; ok {
			s.keepUnnamed(ctx, old)
		}
		if !strings.HasPrefix(rec.Name, danglingPrefix) {
			s.named(ctx, rec.Target)
		}
		inf, err := s.describe(ctx, rec)
		if err != nil {
			return loaded, classify(err)
		}
		name, ok := familiar(rec.Name)
		if !ok {
			name = inf.id.String()
		}
		loaded = append(loaded, name)
		s.event(events.ActionLoad, inf.id.String(), name)
	}
	timeAction("load", start)
	return loaded, nil
}

// restore puts back the image records an import replaced or made.
func (s *Store) restore(ctx context.Context, imported []ctrimages.Image, before map[string]ctrimages.Image) {
	is := s.c.ImageService()
	for _, rec := range imported {
		var err error
		if old, ok := before[rec.Name]; ok {
			_, err = is.Update(ctx, old, "target")
		} else {
			err = is.Delete(ctx, rec.Name)
		}
		if err != nil && !cerrdefs.IsNotFound(err) {
			s.log.Warn("cannot undo the load of an image", "image.name", rec.Name, "err", err)
		}
	}
}

// badLayer is the error of an archive whose layer containerd cannot apply
// (not a tar, a hard link to nothing, an entry cut short): the client's
// archive, unless the error says otherwise.
func badLayer(action string, err error) error {
	if errdefs.KindOf(err) != errdefs.KindUnknown {
		return err
	}
	return errdefs.Invalid("%s: a layer of the archive cannot be applied: %w", action, err)
}

// ociRefName keeps an OCI archive's org.opencontainers.image.ref.name when
// it is a whole reference; a bare tag ("latest") names nothing.
func ociRefName(name string) string {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return ""
	}
	if _, tagged := named.(reference.Tagged); !tagged {
		if _, digested := named.(reference.Digested); !digested {
			return ""
		}
	}
	return named.String()
}
