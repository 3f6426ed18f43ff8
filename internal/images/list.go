package images

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	ctrimages "github.com/containerd/containerd/v2/core/images"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// List returns one summary per image (per image ID), newest first, as
// GET /images/json does.
func (s *Store) List(ctx context.Context) ([]image.Summary, error) {
	ctx = s.ctx(ctx)
	all, err := s.records(ctx)
	if err != nil {
		return nil, err
	}
	var out []image.Summary
	for _, group := range groupByID(all) {
		inf := group[0].info
		tags, digests := names(group)
		target := group[0].rec.Target
		out = append(out, image.Summary{
			ID:          inf.id.String(),
			RepoTags:    tags,
			RepoDigests: digests,
			Created:     created(inf).Unix(),
			Size:        s.size(ctx, inf),
			Labels:      inf.config.Config.Labels,
			Containers:  -1, // not counted, as Docker answers without ?shared-size
			SharedSize:  -1,
			Descriptor:  &target,
		})
	}
	slices.SortStableFunc(out, func(a, b image.Summary) int {
		return cmp.Or(cmp.Compare(b.Created, a.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Inspect describes the image ref names (a name, an ID or an ID prefix), as
// GET /images/{name}/json does.
func (s *Store) Inspect(ctx context.Context, ref string) (image.InspectResponse, error) {
	ctx = s.ctx(ctx)
	recs, byName, err := s.lookup(ctx, ref)
	if err != nil {
		return image.InspectResponse{}, err
	}
	if byName {
		// Docker lists every name of the image, not only the one asked for.
		all, err := s.records(ctx)
		if err != nil {
			return image.InspectResponse{}, err
		}
		recs = groupByID(all)[recs[0].info.id]
	}
	inf := recs[0].info
	tags, digests := names(recs)
	var lastTag time.Time
	for _, r := range recs {
		if _, ok := familiar(r.rec.Name); ok && r.rec.UpdatedAt.After(lastTag) {
			lastTag = r.rec.UpdatedAt
		}
	}
	layers := make([]string, len(inf.config.RootFS.DiffIDs))
	for i, d := range inf.config.RootFS.DiffIDs {
		layers[i] = d.String()
	}
	var createdStr string
	if inf.config.Created != nil {
		createdStr = inf.config.Created.UTC().Format(time.RFC3339Nano)
	}
	cfg := inf.config.Config
	target := recs[0].rec.Target
	return image.InspectResponse{
		ID:           inf.id.String(),
		RepoTags:     tags,
		RepoDigests:  digests,
		Created:      createdStr,
		Author:       inf.config.Author,
		Config:       &cfg,
		Architecture: inf.config.Architecture,
		Variant:      inf.config.Variant,
		Os:           inf.config.OS,
		OsVersion:    inf.config.OSVersion,
		Size:         s.size(ctx, inf),
		RootFS:       image.RootFS{Type: "layers", Layers: layers},
		Metadata:     image.Metadata{LastTagTime: lastTag},
		Descriptor:   &target,
	}, nil
}

// Tag gives the image src names the name dst, as POST /images/{name}/tag.
func (s *Store) Tag(ctx context.Context, src, dst string) error {
	ctx = s.ctx(ctx)
	named, err := normalize(dst)
	if err != nil {
		return err
	}
	if _, ok := named.(reference.Digested); ok {
		return errdefs.Invalid("refusing to create a tag with a digest reference: %s", dst)
	}
	defer timeAction("tag", time.Now())
	recs, _, err := s.lookup(ctx, src)
	if err != nil {
		return err
	}
	if err := s.setName(ctx, named.String(), recs[0].rec.Target); err != nil {
		return err
	}
	s.event(events.ActionTag, recs[0].info.id.String(), reference.FamiliarString(named))
	return nil
}

// Remove removes the image ref names, as DELETE /images/{name}: by a name it
// removes that name, and the image with its last one; by ID it removes the
// image and all its names, which needs force when they are in more than one
// repository. Deleting an image a container was made from needs force too;
// the container keeps its own snapshot either way.
func (s *Store) Remove(ctx context.Context, ref string, force bool) ([]image.DeleteResponse, error) {
	ctx = s.ctx(ctx)
	recs, byName, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	id := recs[0].info.id
	all, err := s.records(ctx)
	if err != nil {
		return nil, err
	}
	group := groupByID(all)[id]

	doomed := group
	if byName {
		doomed = recs
	} else if repos := repositories(group); len(repos) > 1 && !force {
		return nil, errdefs.Conflict("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(id))
	}
	if len(doomed) == len(group) && !force {
		user, err := s.user(ctx, group)
		if err != nil {
			return nil, err
		}
		if user != "" && byName {
			return nil, errdefs.Conflict("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", ref, shortHex(user), shortID(id))
		}
		if user != "" {
			return nil, errdefs.Conflict("conflict: unable to delete %s (must be forced) - image is being used by container %s", shortID(id), shortHex(user))
		}
	}
	defer timeAction("delete", time.Now())
	var resp []image.DeleteResponse
	for i, r := range doomed {
		last := len(doomed) == len(group) && i == len(doomed)-1
		if err := s.deleteRecord(ctx, r.rec, last); err != nil {
			return resp, err
		}
		if name, ok := familiar(r.rec.Name); ok {
			resp = append(resp, image.DeleteResponse{Untagged: name})
			s.event(events.ActionUnTag, id.String(), name)
		}
	}
	if len(doomed) == len(group) {
		resp = append(resp, image.DeleteResponse{Deleted: id.String()})
		s.event(events.ActionDelete, id.String(), id.String())
	}
	return resp, nil
}

// LabelReleased marks a containerd container that was removed from the
// API while what it used is still being freed (a plain container's
// deferred removal): it holds no image any more, as after docker rm in
// dockerd, so an image it was made from can be removed or pruned at once.
const LabelReleased = "com.shoal.released"

// holdsImage reports whether container c still holds the image it was
// made from.
func holdsImage(c containers.Container) bool {
	_, released := c.Labels[LabelReleased]
	return !released
}

// user returns the ID of a container made from one of the image's names,
// or "" when none is.
func (s *Store) user(ctx context.Context, group []record) (string, error) {
	for _, r := range group {
		cs, err := s.c.ContainerService().List(ctx, "image=="+strconv.Quote(r.rec.Name))
		if err != nil {
			return "", classify(fmt.Errorf("list containers of image %s: %w", r.rec.Name, err))
		}
		for _, c := range cs {
			if holdsImage(c) {
				return c.ID, nil
			}
		}
	}
	return "", nil
}

func shortHex(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (s *Store) deleteRecord(ctx context.Context, rec ctrimages.Image, last bool) error {
	var opts []ctrimages.DeleteOpt
	if last {
		// Free the content and snapshots now, not at the next collection.
		opts = append(opts, ctrimages.SynchronousDelete())
	}
	if err := s.c.ImageService().Delete(ctx, rec.Name, opts...); err != nil {
		return classify(fmt.Errorf("delete image %s: %w", rec.Name, err))
	}
	return nil
}

// groupByID groups records by image ID, named records first, each group
// in name order.
func groupByID(recs []record) map[digest.Digest][]record {
	groups := map[digest.Digest][]record{}
	for _, r := range recs {
		groups[r.info.id] = append(groups[r.info.id], r)
	}
	for _, g := range groups {
		slices.SortFunc(g, func(a, b record) int {
			_, an := familiar(a.rec.Name)
			_, bn := familiar(b.rec.Name)
			if an != bn {
				if an {
					return -1
				}
				return 1
			}
			return cmp.Compare(a.rec.Name, b.rec.Name)
		})
	}
	return groups
}

// names returns the RepoTags and RepoDigests of an image's records; never
// nil, so that the API shows [] for a dangling image.
func names(group []record) (tags, digests []string) {
	tags, digests = []string{}, []string{}
	for _, r := range group {
		if isTagged(r.rec.Name) {
			if name, ok := familiar(r.rec.Name); ok {
				tags = append(tags, name)
			}
		}
		if d, ok := repoDigest(r.rec.Name, r.rec.Target.Digest); ok && !slices.Contains(digests, d) {
			digests = append(digests, d)
		}
	}
	slices.Sort(tags)
	slices.Sort(digests)
	return tags, digests
}

func repositories(group []record) []string {
	var repos []string
	for _, r := range group {
		if repo, ok := repository(r.rec.Name); ok && !slices.Contains(repos, repo) {
			repos = append(repos, repo)
		}
	}
	return repos
}

func created(inf info) time.Time {
	if inf.config.Created == nil {
		return time.Time{}
	}
	return *inf.config.Created
}

// size is the image's unpacked size, as Docker shows it; the size of its
// blobs when it is not unpacked.
func (s *Store) size(ctx context.Context, inf info) int64 {
	sn := s.c.SnapshotService(s.snapshotter)
	var total int64
	for _, chain := range identity.ChainIDs(slices.Clone(inf.config.RootFS.DiffIDs)) {
		u, err := sn.Usage(ctx, chain.String())
		if err != nil {
			return blobSize(inf.manifest)
		}
		total += u.Size
	}
	return total
}

func blobSize(m ocispec.Manifest) int64 {
	total := m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total
}
