// Package build builds images from a Dockerfile and a build context, as
// docker build does through the Engine API's POST /build: the Dockerfile is
// parsed by BuildKit's Dockerfile parser, and each step runs here over the
// node's containerd (snapshots, the diff service, runc tasks), with a layer
// cache keyed by what each step read. The decisions (query parameters,
// .dockerignore, the build plan, what each instruction does to the image
// config, cache keys) are pure functions; the Builder does the I/O.
package build

import (
	"encoding/json"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/distribution/reference"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// DefaultDockerfile is the Dockerfile's name in the context when -f is not
// given.
const DefaultDockerfile = "Dockerfile"

// Options are what a build request asks for (POST /build's query).
// Parameters the docker CLI may send that change nothing here are ignored:
// pull (a FROM image missing here is pulled anyway), rm and forcerm (no
// step container is kept), cachefrom (the cache is this node's),
// networkmode (RUN is on the host's network), and the resource limits of
// step containers.
type Options struct {
	Tags       []string          // t, repeated: normalised references
	Dockerfile string            // dockerfile: a path inside the context
	BuildArgs  map[string]string // buildargs: a JSON object; a null value means "from the client's environment", which the CLI has already filled in
	Labels     map[string]string // labels: a JSON object, set on the final image
	Target     string            // target: the stage to stop at
	NoCache    bool              // nocache
	Quiet      bool              // q: only the image ID is streamed
}

// unsupported are query parameters that change what a build means and
// that Shoal does not do; a request with them is refused rather than
// built differently from what was asked.
var unsupported = map[string]string{
	"remote":     "building from a remote context (git or URL) is not supported: send the context as the request body",
	"extrahosts": "extrahosts is not supported by this builder",
	"squash":     "squash is not supported",
	"platform":   "building for another platform is not supported",
	"isolation":  "isolation is not supported",
	"outputs":    "outputs are not supported: the result is always an image in the node's store",
}

// ParseOptions reads POST /build's query. A bad value is an
// errdefs.Invalid error naming the parameter.
func ParseOptions(q url.Values) (Options, error) {
	var o Options
	for name, msg := range unsupported {
		if v := q.Get(name); v != "" && !(name == "platform" && v == "linux/amd64") {
			return Options{}, errdefs.Invalid("%s", msg)
		}
	}
	if v := q.Get("version"); v != "" && v != "1" {
		return Options{}, errdefs.Invalid("version: builder version %q is not supported: only the classic API (version 1) is; set DOCKER_BUILDKIT=0", v)
	}
	for _, t := range q["t"] {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return Options{}, errdefs.Invalid("t: invalid reference format %q: %v", t, err)
		}
		if _, ok := named.(reference.Digested); ok {
			return Options{}, errdefs.Invalid("t: cannot tag with a digest: %s", t)
		}
		o.Tags = append(o.Tags, reference.TagNameOnly(named).String())
	}
	o.Dockerfile = DefaultDockerfile
	if f := q.Get("dockerfile"); f != "" {
		clean := path.Clean(strings.TrimPrefix(f, "/"))
		if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
			return Options{}, errdefs.Invalid("dockerfile: %q is not a file inside the build context", f)
		}
		o.Dockerfile = clean
	}
	var err error
	if o.BuildArgs, err = stringMap(q, "buildargs"); err != nil {
		return Options{}, err
	}
	if o.Labels, err = stringMap(q, "labels"); err != nil {
		return Options{}, err
	}
	o.Target = q.Get("target")
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"nocache", &o.NoCache}, {"q", &o.Quiet}} {
		if v := q.Get(b.name); v != "" {
			if *b.dst, err = strconv.ParseBool(v); err != nil {
				return Options{}, errdefs.Invalid("%s: %q is not a boolean", b.name, v)
			}
		}
	}
	return o, nil
}

// stringMap decodes a JSON object of strings; the CLI sends null for a
// build arg named without a value and not in its environment, which
// leaves the arg unset.
func stringMap(q url.Values, name string) (map[string]string, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	var m map[string]*string
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil, errdefs.Invalid("%s: not a JSON object of strings: %v", name, err)
	}
	out := make(map[string]string, len(m))
	for k, p := range m {
		if k == "" {
			return nil, errdefs.Invalid("%s: an empty name", name)
		}
		if p != nil {
			out[k] = *p
		}
	}
	return out, nil
}
