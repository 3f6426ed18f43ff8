package apiserver

import (
	"context"
	"net/http"

	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/filters"
)

// listOf serves a cluster list endpoint: the control API's list with the
// request's filters, as JSON.
func listOf[T any](s *Server, list func(*controlapi.API, context.Context, filters.Args) ([]T, error)) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.control()
		if err != nil {
			return err
		}
		f, err := queryFilters(r)
		if err != nil {
			return err
		}
		items, err := list(c, r.Context(), f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, items)
	}
}

// cachedListOf is listOf for a list whose answers are kept while the
// store does not change (answerCache).
func cachedListOf[T any](s *Server, list func(*controlapi.API, context.Context, filters.Args) ([]T, error)) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.control()
		if err != nil {
			return err
		}
		f, err := queryFilters(r)
		if err != nil {
			return err
		}
		return s.cachedRead(w, r, c, func() (any, error) { return list(c, r.Context(), f) })
	}
}

// inspectOf serves a cluster inspect endpoint: the object the path's {id}
// names, as JSON.
func inspectOf[T any](s *Server, get func(*controlapi.API, context.Context, string) (T, error)) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.control()
		if err != nil {
			return err
		}
		obj, err := get(c, r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, obj)
	}
}
