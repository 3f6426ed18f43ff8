package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/shoal-project/shoal/internal/build"
)

// Builder builds images from a Dockerfile (build.Builder).
type Builder interface {
	Build(ctx context.Context, opts build.Options, body io.Reader, out build.Output) (string, error)
	// Prune empties the build cache: the entries' keys and the bytes freed.
	Prune(ctx context.Context) ([]string, uint64, error)
}

// buildImage serves POST /build, docker build's classic route: the
// context is the body, the options the query, the answer a JSON stream of
// the build's output, the image ID as aux, and a failed step's message and
// exit code as errorDetail. Bad requests fail before the stream starts,
// with their status code.
func (s *Server) buildImage(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Builder == nil {
		return errNoBackend("builds")
	}
	opts, err := build.ParseOptions(r.URL.Query())
	if err != nil {
		return err
	}
	ps := newProgressStream(w)
	out := &buildOutput{ps: ps}
	if _, err := s.cfg.Builder.Build(r.Context(), opts, r.Body, out); err != nil {
		var step *build.StepError
		if errors.As(err, &step) {
			ps.send(progressMessage{ErrorDetail: &jsonstream.Error{Code: step.Code, Message: step.Msg}, Error: step.Msg})
			return nil
		}
		return ps.fail(err)
	}
	if !ps.started {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

// buildOutput sends a build's output on the progress stream; a client
// gone away does not stop the build, whose layers are kept in the cache.
type buildOutput struct{ ps *progressStream }

func (o *buildOutput) Stream(text string) { o.ps.send(progressMessage{Stream: text}) }

func (o *buildOutput) Aux(id string) {
	b, _ := json.Marshal(struct{ ID string }{id})
	raw := json.RawMessage(b)
	o.ps.send(progressMessage{Aux: &raw})
}

// buildPrune serves POST /build/prune (docker builder prune). The cache is
// emptied whole: its entries are steps, not BuildKit's records, so the
// filters, keep-storage and all of BuildKit have nothing to choose by.
func (s *Server) buildPrune(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Builder == nil {
		return errNoBackend("builds")
	}
	deleted, reclaimed, err := s.cfg.Builder.Prune(r.Context())
	if err != nil {
		return err
	}
	if deleted == nil {
		deleted = []string{}
	}
	return writeJSON(w, http.StatusOK, buildtypes.CachePruneReport{CachesDeleted: deleted, SpaceReclaimed: reclaimed})
}
