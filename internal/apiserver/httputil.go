package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/limits"
)

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

// encodeJSON encodes v as writeJSON writes it.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	err := json.NewEncoder(&buf).Encode(v)
	return buf.Bytes(), err
}

// writeEncoded answers 200 with body, JSON encoded already.
func writeEncoded(w http.ResponseWriter, body []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := errdefs.HTTPStatus(err)
	if code >= 500 {
		s.log.Error("API request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	} else {
		s.log.Debug("API request refused", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
}

// decodeJSON reads a JSON request body into v, naming the problem (and
// the field, as encoding/json does) when it is malformed.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/plain") {
		return errdefs.Invalid("unsupported Content-Type header (%s): must be 'application/json'", ct)
	}
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errdefs.Invalid("unexpected content after JSON")
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return limits.BodyTooLarge()
	case errors.Is(err, io.EOF):
		return errdefs.Invalid("invalid JSON: got EOF while reading request body")
	case errdefs.KindOf(err) != errdefs.KindUnknown:
		return err
	}
	return errdefs.Invalid("invalid JSON: %s", err)
}

// boolValue reads a boolean query parameter as dockerd does: empty, 0,
// no, false and none are false, anything else is true.
func boolValue(r *http.Request, key string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(key))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// strictBool reads a boolean query parameter that dockerd parses with
// strconv.ParseBool, with its message for anything else; absent is false.
func strictBool(r *http.Request, key string) (bool, error) {
	raw := r.URL.Query().Get(key)
	if raw == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		return false, errdefs.Invalid("invalid value for %s: %s: %v", key, raw, err)
	}
	return v, nil
}

// version reads the version parameter of an update of a kind of object.
func version(r *http.Request, kind string) (uint64, error) {
	raw := r.URL.Query().Get("version")
	v, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, errdefs.Invalid("invalid %s version '%s': %v", kind, raw, err)
	}
	return v, nil
}

func queryFilters(r *http.Request) (filters.Args, error) {
	return filters.Parse(r.URL.Query().Get("filters"))
}

func errNoBackend(what string) error {
	return errdefs.Unavailable("%s are not available on this daemon", what)
}
