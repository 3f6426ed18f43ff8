package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/registryauth"
)

// Registry is what this node does with registries and with images beyond
// pulling and listing them (images.Store): docker login, push, history,
// save, image prune and commit.
type Registry interface {
	Login(ctx context.Context, cfg registry.AuthConfig) error
	Push(ctx context.Context, ref string, progress func(images.PushProgress)) (images.Pushed, error)
	History(ctx context.Context, ref string) ([]image.HistoryResponseItem, error)
	Save(ctx context.Context, refs []string, w io.Writer) error
	Prune(ctx context.Context, f filters.Args) (image.PruneReport, error)
	Commit(ctx context.Context, containerID string, opts images.CommitOptions) (string, error)
}

func (s *Server) registry() (Registry, error) {
	if s.cfg.Registry == nil {
		return nil, errNoBackend("registry operations")
	}
	return s.cfg.Registry, nil
}

// withRegistryAuth returns r's context carrying its X-Registry-Auth
// credentials, for the registry calls made under it; a header that is not
// an AuthConfig is refused before anything is done.
func withRegistryAuth(r *http.Request) (context.Context, error) {
	h := r.Header.Get(registryauth.Header)
	if _, err := registryauth.Decode(h); err != nil {
		return nil, err
	}
	return registryauth.NewContext(r.Context(), h), nil
}

// auth answers docker login: the credentials are checked against their
// registry and not kept; the CLI stores them itself.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	var cfg registry.AuthConfig
	if err := decodeJSON(r, &cfg); err != nil {
		return err
	}
	if err := reg.Login(r.Context(), cfg); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registry.AuthResponse{Status: "Login Succeeded"})
}

// imagePush pushes name:tag, or every tag of the repository name when no
// tag is given (docker push --all-tags), streaming docker push's progress.
func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	ctx, err := withRegistryAuth(r)
	if err != nil {
		return err
	}
	refs, err := s.pushRefs(r.Context(), name, r.URL.Query().Get("tag"))
	if err != nil {
		return err
	}
	ps := newProgressStream(w)
	for _, ref := range refs {
		pushed, err := reg.Push(ctx, ref, func(p images.PushProgress) {
			m := progressMessage{ID: p.ID, Status: p.Status}
			if p.Current > 0 {
				m.ProgressDetail = &progressDetail{Current: p.Current, Total: p.Total}
			}
			ps.send(m)
		})
		if err != nil {
			return ps.fail(err)
		}
		ps.send(progressMessage{Status: fmt.Sprintf("%s: digest: %s size: %d", pushed.Tag, pushed.Digest, pushed.Size)})
		aux, _ := json.Marshal(pushAux{Tag: pushed.Tag, Digest: pushed.Digest.String(), Size: pushed.Size})
		raw := json.RawMessage(aux)
		ps.send(progressMessage{Aux: &raw})
	}
	return nil
}

// pushAux is the aux message that ends a tag's push, which the docker
// CLI reads the pushed digest from.
type pushAux struct {
	Tag    string
	Digest string
	Size   int64
}

// pushRefs is what a push of name with tag sends: name:tag, or with no
// tag every tag of name's repository here.
func (s *Server) pushRefs(ctx context.Context, name, tag string) ([]string, error) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, errdefs.Invalid("invalid reference format: %s: %v", name, err)
	}
	if tag != "" {
		tagged, err := reference.WithTag(named, tag)
		if err != nil {
			return nil, errdefs.Invalid("invalid tag %q: %v", tag, err)
		}
		return []string{reference.FamiliarString(tagged)}, nil
	}
	if _, ok := named.(reference.Tagged); ok {
		return []string{reference.FamiliarString(named)}, nil
	}
	im, err := s.images()
	if err != nil {
		return nil, err
	}
	list, err := im.List(ctx)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, sum := range list {
		for _, t := range sum.RepoTags {
			if n, err := reference.ParseNormalizedNamed(t); err == nil && n.Name() == named.Name() {
				refs = append(refs, t)
			}
		}
	}
	if len(refs) == 0 {
		return nil, errdefs.NotFound("An image does not exist locally with the tag: %s", reference.FamiliarName(named))
	}
	return refs, nil
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, name string) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	items, err := reg.History(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, items)
}

// imageSave answers GET /images/{name}/get and GET /images/get?names=…
// with a docker save tarball.
func (s *Server) imageSave(w http.ResponseWriter, r *http.Request, names []string) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return errdefs.Invalid("names is required: the images to save")
	}
	// The headers go out with the first bytes, so that an image that is
	// not there is still an error response.
	return reg.Save(r.Context(), names, &lazyHeader{w: w, contentType: "application/x-tar"})
}

func (s *Server) imageSaveMany(w http.ResponseWriter, r *http.Request) error {
	return s.imageSave(w, r, r.URL.Query()["names"])
}

// lazyHeader writes the status and content type before the first byte.
type lazyHeader struct {
	w           http.ResponseWriter
	contentType string
	started     bool
}

func (l *lazyHeader) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", l.contentType)
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	rep, err := reg.Prune(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// commit answers docker commit: an image of a plain container's changes.
// The container is named as the container routes take it; pause is not
// done (the container keeps running).
func (s *Server) commit(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	cs, err := s.containers()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("container") == "" {
		return errdefs.Invalid("container is required: the container to commit")
	}
	ctr, err := cs.Inspect(r.Context(), q.Get("container"))
	if err != nil {
		return err
	}
	ref := q.Get("repo")
	if ref == "" && q.Get("tag") != "" {
		return errdefs.Invalid("tag %q given without a repository", q.Get("tag"))
	}
	if ref != "" && q.Get("tag") != "" {
		ref += ":" + q.Get("tag")
	}
	id, err := reg.Commit(r.Context(), ctr.ID, images.CommitOptions{
		Ref: ref, Comment: q.Get("comment"), Author: q.Get("author"), Changes: q["changes"],
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"Id": id})
}
