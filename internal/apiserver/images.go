package apiserver

import (
	"encoding/json"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
)

func (s *Server) images() (Images, error) {
	if s.cfg.Images == nil {
		return nil, errNoBackend("images")
	}
	return s.cfg.Images, nil
}

// pathAction splits "busybox:latest/json" into the name and the action
// after its last slash; image names contain slashes themselves.
func pathAction(rest string) (name, action string) {
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return rest, ""
	}
	return rest[:i], rest[i+1:]
}

var errPageNotFound = errdefs.NotFound("page not found")

func (s *Server) imageList(w http.ResponseWriter, r *http.Request) error {
	im, err := s.images()
	if err != nil {
		return err
	}
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	if err := f.Validate("dangling", "label", "reference"); err != nil {
		return err
	}
	for _, d := range f.Get("dangling") {
		if d != "true" && d != "false" && d != "1" && d != "0" {
			return errdefs.Invalid("invalid filter 'dangling=%s'", d)
		}
	}
	list, err := im.List(r.Context())
	if err != nil {
		return err
	}
	out := []image.Summary{}
	for _, s := range list {
		if matchImage(f, s) {
			out = append(out, s)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// matchImage applies dockerd's image list filters: dangling for an image
// without tags, label as other label filters, and reference as a glob over
// a tag's familiar name, with or without its tag ("busybox",
// "busybox:1.*", "example.com/*").
func matchImage(f filters.Args, s image.Summary) bool {
	for _, d := range f.Get("dangling") {
		if (d == "true" || d == "1") != (len(s.RepoTags) == 0) {
			return false
		}
	}
	if !f.Labels("label", s.Labels) {
		return false
	}
	if pats := f.Get("reference"); len(pats) > 0 {
		return slices.ContainsFunc(pats, func(p string) bool {
			return slices.ContainsFunc(s.RepoTags, func(tag string) bool { return matchReference(p, tag) })
		})
	}
	return true
}

func matchReference(pattern, tag string) bool {
	ref, err := reference.ParseNormalizedNamed(tag)
	if err != nil {
		return false
	}
	for _, name := range []string{reference.FamiliarString(ref), reference.FamiliarName(ref)} {
		if ok, _ := path.Match(pattern, name); ok {
			return true
		}
	}
	return false
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request) error {
	name, action := pathAction(r.PathValue("name"))
	switch {
	case name == "":
		return errPageNotFound
	case action == "history":
		return s.imageHistory(w, r, name)
	case action == "get":
		return s.imageSave(w, r, []string{name})
	case action != "json":
		return errPageNotFound
	}
	im, err := s.images()
	if err != nil {
		return err
	}
	resp, err := im.Inspect(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) imageTag(w http.ResponseWriter, r *http.Request) error {
	name, action := pathAction(r.PathValue("name"))
	switch {
	case name == "":
		return errPageNotFound
	case action == "push":
		return s.imagePush(w, r, name)
	case action != "tag":
		return errPageNotFound
	}
	im, err := s.images()
	if err != nil {
		return err
	}
	repo, tag := r.URL.Query().Get("repo"), r.URL.Query().Get("tag")
	if repo == "" {
		return errdefs.Invalid("repository name must have at least one component")
	}
	dst := repo
	if tag != "" {
		dst += ":" + tag
	}
	if err := im.Tag(r.Context(), name, dst); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) imageRemove(w http.ResponseWriter, r *http.Request) error {
	im, err := s.images()
	if err != nil {
		return err
	}
	resp, err := im.Remove(r.Context(), r.PathValue("name"), boolValue(r, "force"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) distributionInspect(w http.ResponseWriter, r *http.Request) error {
	name, action := pathAction(r.PathValue("name"))
	if action != "json" || name == "" {
		return errPageNotFound
	}
	im, err := s.images()
	if err != nil {
		return err
	}
	ctx, err := withRegistryAuth(r)
	if err != nil {
		return err
	}
	resp, err := im.Distribution(ctx, name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

// progressMessage is one line of a JSON progress stream; "error" is the
// field older clients read, errorDetail the one newer ones do.
type progressMessage struct {
	Status         string            `json:"status,omitempty"`
	ID             string            `json:"id,omitempty"`
	ProgressDetail *progressDetail   `json:"progressDetail,omitempty"`
	Stream         string            `json:"stream,omitempty"`
	Aux            *json.RawMessage  `json:"aux,omitempty"`
	ErrorDetail    *jsonstream.Error `json:"errorDetail,omitempty"`
	Error          string            `json:"error,omitempty"`
}

// progressDetail is how far a layer's transfer is, from which the docker
// CLI draws its bar.
type progressDetail struct {
	Current int64 `json:"current"`
	Total   int64 `json:"total,omitempty"`
}

// progressStream writes a JSON progress stream. The response starts with
// the first message, so an error before any output is still an ordinary
// error response with its status code.
type progressStream struct {
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

func newProgressStream(w http.ResponseWriter) *progressStream {
	return &progressStream{w: w, enc: json.NewEncoder(w)}
}

func (p *progressStream) send(m progressMessage) error {
	if !p.started {
		p.started = true
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
	}
	if err := p.enc.Encode(m); err != nil {
		return err
	}
	return http.NewResponseController(p.w).Flush()
}

// fail ends the stream with err, or returns err for an ordinary error
// response when nothing was sent yet.
func (p *progressStream) fail(err error) error {
	if !p.started {
		return err
	}
	p.send(progressMessage{ErrorDetail: &jsonstream.Error{Message: err.Error()}, Error: err.Error()})
	return nil
}

// imageCreate pulls (fromImage) or imports (fromSrc=-) an image.
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	im, err := s.images()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	tag := q.Get("tag")
	ps := newProgressStream(w)
	switch {
	case q.Get("fromSrc") != "":
		if q.Get("fromSrc") != "-" {
			return errdefs.Invalid("importing from a URL is not supported: send the archive as the request body with fromSrc=-")
		}
		ref := q.Get("repo")
		if ref != "" && tag != "" {
			ref += ":" + tag
		}
		id, err := im.Import(r.Context(), r.Body, ref, q["changes"])
		if err != nil {
			return ps.fail(err)
		}
		return ps.send(progressMessage{Status: id})
	case q.Get("fromImage") != "":
		ref := q.Get("fromImage")
		if tag != "" {
			if strings.Contains(tag, ":") {
				ref += "@" + tag
			} else {
				ref += ":" + tag
			}
		}
		ctx, err := withRegistryAuth(r)
		if err != nil {
			return err
		}
		pr := &pullProgress{ps: ps}
		if _, err := im.Pull(ctx, ref, pr.report); err != nil {
			return ps.fail(err)
		}
		return nil
	default:
		return errdefs.Invalid("fromImage or fromSrc is required")
	}
}

// pullProgress turns the image store's status lines into dockerd's
// progress messages: "<id>: <status>" lines carry an id (a layer, or
// the tag being pulled), "Digest: …" and "Status: …" do not. Layers are
// reported complete when the pull reaches its digest.
type pullProgress struct {
	ps     *progressStream
	layers []string
}

func (p *pullProgress) report(line string) {
	head, tail, ok := strings.Cut(line, ": ")
	var m progressMessage
	switch {
	case !ok || strings.Contains(head, " "):
		m.Status = line
	case head == "Digest" || head == "Status":
		for _, l := range p.layers {
			p.write(progressMessage{ID: l, Status: "Pull complete"})
		}
		p.layers = nil
		m.Status = line
	default:
		m.ID, m.Status = head, tail
		if tail == "Pulling fs layer" {
			p.layers = append(p.layers, head)
		}
	}
	p.write(m)
}

// write sends m; a client gone away does not stop the pull, whose image
// is kept for the next one.
func (p *pullProgress) write(m progressMessage) { p.ps.send(m) }

func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	im, err := s.images()
	if err != nil {
		return err
	}
	loaded, err := im.Load(r.Context(), r.Body)
	if err != nil {
		return err
	}
	ps := newProgressStream(w)
	for _, name := range loaded {
		msg := "Loaded image: " + name + "\n"
		if strings.HasPrefix(name, "sha256:") {
			msg = "Loaded image ID: " + name + "\n"
		}
		if err := ps.send(progressMessage{Stream: msg}); err != nil {
			return nil
		}
	}
	if !ps.started {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	}
	return nil
}
