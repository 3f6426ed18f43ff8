package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	ctrimages "github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/registryauth"
)

// maxManifestSize bounds what Distribution reads of a manifest or index.
const maxManifestSize = 4 << 20

// resolver reaches registries for a pull, push or lookup, with the
// credentials ctx carries (registryauth.NewContext) and anonymous bearer
// tokens otherwise: public repositories on Docker Hub and most registries
// answer 401 until one is fetched. client is nil for the default one.
func (s *Store) resolver(ctx context.Context, client *http.Client) (remotes.Resolver, error) {
	cfg, err := registryauth.FromContextDecoded(ctx)
	if err != nil {
		return nil, err
	}
	var authOpts []docker.AuthorizerOpt
	var hostOpts []docker.RegistryOpt
	if client != nil {
		authOpts = append(authOpts, docker.WithAuthClient(client))
		hostOpts = append(hostOpts, docker.WithClient(client))
	}
	if user, secret := registryauth.Credentials(cfg); secret != "" {
		authOpts = append(authOpts, docker.WithAuthCreds(func(string) (string, string, error) { return user, secret, nil }))
	}
	if cfg.RegistryToken != "" {
		authOpts = append(authOpts, docker.WithAuthHeader(http.Header{"Authorization": {"Bearer " + cfg.RegistryToken}}))
	}
	hostOpts = append(hostOpts, docker.WithPlainHTTP(s.plainHTTP), docker.WithAuthorizer(docker.NewDockerAuthorizer(authOpts...)))
	return docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(hostOpts...)}), nil
}

// lookupReachTimeout bounds how long Distribution tries to reach a
// registry (name lookup, connect, TLS handshake): the docker CLI asks it
// before every service create and stack deploy, and falls back at once
// on an error, but waits as long as the lookup takes. A registry that
// answers is looked up whatever it then takes.
const lookupReachTimeout = time.Second

// lookupClient is the HTTP client with lookupReachTimeout on reaching each
// registry host.
func lookupClient() *http.Client {
	dialer := &net.Dialer{Timeout: lookupReachTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: lookupReachTimeout,
		ForceAttemptHTTP2:   true,
	}}
}

// unreachable returns, for a registry that could not be reached, the
// failed request's own error as dockerd answers it (`Get "https://…/v2/":
// dial tcp: …`, status 500); nil for other errors.
func unreachable(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return errors.New(ue.Error())
	}
	return nil
}

// plainHTTP reports whether host is reached over HTTP: it is one of the
// insecure registries, or on loopback (Docker's default insecure range).
func (s *Store) plainHTTP(host string) (bool, error) {
	if slices.Contains(s.insecure, host) {
		return true, nil
	}
	return docker.MatchLocalhost(host)
}

// Pull fetches ref from its registry and unpacks it into the snapshotter.
// progress, which may be nil, gets Docker-like status lines
// ("latest: Pulling from library/busybox", "<layer>: Pulling fs layer",
// "Digest: sha256:…", "Status: Downloaded newer image for busybox:latest").
func (s *Store) Pull(ctx context.Context, ref string, progress func(status string)) (client.Image, error) {
	report := func(string) {}
	if progress != nil {
		// Layers are fetched in parallel; progress sees one line at a time.
		var mu sync.Mutex
		report = func(st string) {
			mu.Lock()
			defer mu.Unlock()
			progress(st)
		}
	}
	named, err := normalize(ref)
	if err != nil {
		return nil, err
	}
	defer timeAction("pull", time.Now())
	ctx = s.ctx(ctx)
	name := named.String()
	old, oldErr := s.c.ImageService().Get(ctx, name)

	report(fmt.Sprintf("%s: Pulling from %s", tagOrDigest(named), reference.Path(named)))
	announce := ctrimages.HandlerFunc(func(_ context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if ctrimages.IsLayerType(desc.MediaType) {
			report(shortID(desc.Digest) + ": Pulling fs layer")
		}
		return nil, nil
	})
	resolver, err := s.resolver(ctx, nil)
	if err != nil {
		return nil, err
	}
	img, err := s.c.Pull(ctx, name,
		client.WithResolver(resolver),
		client.WithPullUnpack,
		client.WithPullSnapshotter(s.snapshotter),
		client.WithImageHandler(announce),
	)
	if err != nil {
		return nil, registryError(named, err)
	}
	if oldErr == nil {
		s.keepUnnamed(ctx, old)
	}
	s.named(ctx, img.Target())

	fam := reference.FamiliarString(named)
	report("Digest: " + img.Target().Digest.String())
	if oldErr == nil && old.Target.Digest == img.Target().Digest {
		report("Status: Image is up to date for " + fam)
	} else {
		report("Status: Downloaded newer image for " + fam)
	}
	s.log.Info("pulled image", "image", fam, "image.digest", img.Target().Digest)
	s.event(events.ActionPull, fam, fam)
	return img, nil
}

func tagOrDigest(named reference.Named) string {
	if d, ok := named.(reference.Digested); ok {
		return d.Digest().String()
	}
	if t, ok := named.(reference.Tagged); ok {
		return t.Tag()
	}
	return "latest"
}

// registryError classifies what a registry said about named, keeping the
// registry's own message.
func registryError(named reference.Named, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	fam := reference.FamiliarString(named)
	var status remoteerrors.ErrUnexpectedStatus
	hasStatus := errors.As(err, &status)
	switch {
	case errors.Is(err, docker.ErrInvalidAuthorization),
		hasStatus && (status.StatusCode == http.StatusUnauthorized || status.StatusCode == http.StatusForbidden):
		return errdefs.NotFound("pull access denied for %s, repository does not exist or may require authorization: %w", reference.FamiliarName(named), err)
	case cerrdefs.IsNotFound(err), hasStatus && status.StatusCode == http.StatusNotFound:
		return errdefs.NotFound("manifest for %s not found: %w", fam, err)
	}
	return classify(fmt.Errorf("pull %s: %w", fam, err))
}

// Ensure returns the image ref names, pulling it when it is not here. An
// image that cannot be had is an errdefs.NotFound error whose message is
// "No such image: <ref>", with the reason kept as its cause.
func (s *Store) Ensure(ctx context.Context, ref string) (client.Image, error) {
	img, err := s.Local(ctx, ref)
	switch {
	case err == nil:
		return img, nil
	case !errdefs.Is(err, errdefs.KindNotFound):
		return nil, err
	}
	img, err = s.sharedPull(ctx, ref)
	if err == nil {
		return img, nil
	}
	if ctx.Err() != nil || errdefs.Is(err, errdefs.KindInvalid) {
		return nil, err
	}
	s.log.Warn("image cannot be had", "image", ref, "err", err)
	return nil, noSuchImage(ref, err)
}

// Local returns the image ref names, unpacked for a container, when this
// node has it; errdefs.NotFound "No such image: <ref>" when not, which is
// what docker run takes as its cue to pull it.
func (s *Store) Local(ctx context.Context, ref string) (client.Image, error) {
	img, _, err := s.local(ctx, ref)
	return img, err
}

// LocalWithConfig is Local, with the image's ID (its config's digest) and
// container config as Config returns them, from the one reading of its
// content that finding it took: a container create needs all three.
func (s *Store) LocalWithConfig(ctx context.Context, ref string) (client.Image, digest.Digest, dockerspec.DockerOCIImageConfig, error) {
	img, inf, err := s.local(ctx, ref)
	if err != nil {
		return nil, "", dockerspec.DockerOCIImageConfig{}, err
	}
	return img, inf.id, inf.config.Config, nil
}

func (s *Store) local(ctx context.Context, ref string) (client.Image, info, error) {
	cctx := s.ctx(ctx)
	recs, _, err := s.lookup(cctx, ref)
	if err != nil {
		return nil, info{}, err
	}
	img := s.image(recs[0].rec)
	if err := s.unpack(cctx, img); err != nil {
		return nil, info{}, err
	}
	return img, recs[0].info, nil
}

// sharedPull pulls ref (from the swarm's nodes first, pullAny) once for
// all who want it at the same time: tasks of
// one service often start together on a node. The pull runs under the first
// caller's context; when that one gives up, the others try again.
func (s *Store) sharedPull(ctx context.Context, ref string) (client.Image, error) {
	for {
		v, err, _ := s.pulls.Do(ref, func() (any, error) { return s.pullAny(ctx, ref) })
		if err == nil {
			return v.(client.Image), nil
		}
		if ctx.Err() != nil || !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
}

// unpack makes sure img's layers are in the snapshotter, as a container
// made from it needs.
func (s *Store) unpack(ctx context.Context, img client.Image) error {
	ok, err := img.IsUnpacked(ctx, s.snapshotter)
	if err != nil {
		return classify(fmt.Errorf("check unpack of %s: %w", img.Name(), err))
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, s.snapshotter); err != nil {
		return classify(fmt.Errorf("unpack %s: %w", img.Name(), err))
	}
	return nil
}

// Distribution resolves ref on its registry: the manifest (or index)
// descriptor and the platforms it serves, for GET /distribution/{name}/json.
func (s *Store) Distribution(ctx context.Context, ref string) (registry.DistributionInspect, error) {
	named, err := normalize(ref)
	if err != nil {
		return registry.DistributionInspect{}, err
	}
	r, err := s.resolver(ctx, lookupClient())
	if err != nil {
		return registry.DistributionInspect{}, err
	}
	name, desc, err := r.Resolve(ctx, named.String())
	if err != nil {
		if u := unreachable(err); u != nil && ctx.Err() == nil {
			return registry.DistributionInspect{}, u
		}
		return registry.DistributionInspect{}, registryError(named, err)
	}
	fetcher, err := r.Fetcher(ctx, name)
	if err != nil {
		return registry.DistributionInspect{}, registryError(named, err)
	}
	fetch := func(d ocispec.Descriptor) ([]byte, error) {
		rc, err := fetcher.Fetch(ctx, d)
		if err != nil {
			return nil, registryError(named, err)
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, maxManifestSize))
	}
	b, err := fetch(desc)
	if err != nil {
		return registry.DistributionInspect{}, err
	}
	out := registry.DistributionInspect{
		Descriptor: ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size},
	}
	if ctrimages.IsIndexType(desc.MediaType) {
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return registry.DistributionInspect{}, fmt.Errorf("decode index of %s: %w", ref, err)
		}
		out.Platforms = indexPlatforms(idx)
		return out, nil
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return registry.DistributionInspect{}, fmt.Errorf("decode manifest of %s: %w", ref, err)
	}
	cb, err := fetch(m.Config)
	if err != nil {
		return registry.DistributionInspect{}, err
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return registry.DistributionInspect{}, fmt.Errorf("decode config of %s: %w", ref, err)
	}
	out.Platforms = []ocispec.Platform{cfg.Platform}
	return out, nil
}

// indexPlatforms lists the platforms of an index's images, leaving out
// attestations (which buildx stores as unknown/unknown manifests).
func indexPlatforms(idx ocispec.Index) []ocispec.Platform {
	var ps []ocispec.Platform
	for _, m := range idx.Manifests {
		if m.Platform == nil || m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		ps = append(ps, *m.Platform)
	}
	return ps
}
