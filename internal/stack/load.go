// Package stack is a whole application declared in compose files and kept in
// its desired state on a swarm, as `docker stack` does: Load reads the files
// with compose-spec's compose-go (interpolation, .env, merging, the compose
// schema), Convert turns them into the specs of the stack's networks,
// secrets, configs and services exactly as the docker CLI converts them, and
// a Deployer creates, updates, prunes and removes those objects through the
// Engine API. Load and Convert do no I/O beyond reading the files they are
// given; every decision about what to change is a pure function over what
// the daemon holds.
package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"

	"github.com/shoal-project/shoal/internal/limits"
)

// LoadOptions says which files make a stack and what they are interpolated
// with.
type LoadOptions struct {
	// Files are the compose files, merged in order (later ones override).
	Files []string
	// Namespace is the stack's name: the prefix of its objects' names.
	Namespace string
	// Env is the environment ("KEY=value") for interpolation; the .env file
	// in the directory of the first file adds what it does not set.
	Env []string
}

// Project is a loaded stack: the compose model with the stack's names, and
// what the files hold that a stack ignores.
type Project struct {
	*types.Project
	Namespace string
	// Unsupported names the keys a stack ignores, once each and sorted:
	// service keys by their own path ("build", "deploy.resources.limits.devices"),
	// others by their full path ("networks.front.enable_ipv6").
	Unsupported []string
	// Deprecated maps keys the docker CLI calls deprecated to why they are
	// ignored.
	Deprecated map[string]string

	ix *fileIndex // where keys are written, for conversion errors; nil in tests that build a Project by hand
}

// deprecated and forbidden are the docker CLI's lists for stacks, with its
// words: deprecated keys are ignored with a warning, forbidden ones refused.
var (
	deprecated = map[string]string{
		"container_name": "Setting the container name is not supported.",
		"expose":         "Exposing ports is unnecessary - services on the same network can access each other's containers on any port.",
	}
	forbidden = map[string]string{
		"volume_driver": "Instead of setting the volume driver on the service, define a volume using the top-level `volumes` option and specify the driver there.",
		"volumes_from":  "To share a volume between services, define it using the top-level `volumes` option and reference it from each service that shares it using the service-level `volumes` option.",
		"cpu_quota":     "Set resource limits using deploy.resources",
		"cpu_shares":    "Set resource limits using deploy.resources",
		"cpuset":        "Set resource limits using deploy.resources",
		"mem_limit":     "Set resource limits using deploy.resources",
		"memswap_limit": "Set resource limits using deploy.resources",
	}
)

// Load reads, interpolates, merges and validates the compose files of a
// stack. Every refusal is an *Error (or several, joined) naming the file, the
// key path and what is wrong; nothing in it depends on a daemon.
func Load(ctx context.Context, o LoadOptions) (*Project, error) {
	if len(o.Files) == 0 {
		return nil, errors.New("specify a Compose file (with --compose-file)")
	}
	if err := ValidateNamespace(o.Namespace); err != nil {
		return nil, err
	}
	ix, err := indexFiles(o.Files)
	if err != nil {
		return nil, err
	}
	var findings []loader.UnsupportedAttribute
	opts, err := composecli.NewProjectOptions(o.Files,
		composecli.WithName(projectName(o.Namespace)),
		composecli.WithEnv(o.Env),
		// WithEnvFiles finds .env; WithDotEnv then reads it, below the
		// process environment.
		composecli.WithEnvFiles(),
		composecli.WithDotEnv,
		// A stack has no profiles: every service is deployed.
		composecli.WithProfiles([]string{"*"}),
		composecli.WithLoadOptions(loader.WithSupportedAttributes(supportedPaths, func(f []loader.UnsupportedAttribute) {
			findings = f
		})),
	)
	if err != nil {
		return nil, ix.explain(err)
	}
	ix.env = opts.Environment
	p, err := loadProject(ctx, opts)
	if err != nil {
		return nil, ix.explain(err)
	}
	proj := &Project{Project: p, Namespace: o.Namespace, ix: ix}
	if err := proj.sortFindings(findings, ix); err != nil {
		return nil, err
	}
	if err := proj.check(ix); err != nil {
		return nil, err
	}
	if err := proj.readFileObjects(ix); err != nil {
		return nil, err
	}
	return proj, nil
}

// loadProject is opts.LoadProject with a panic of compose-go's loader
// turned into an error (ix.explain names the file): v2.16.2 panics on a secret or config
// entry whose target is empty (`target:`), an easy slip in a file that
// should get an answer, not a crash.
func loadProject(ctx context.Context, opts *composecli.ProjectOptions) (p *types.Project, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the Compose loader could not read it (%v); look for a key left empty, such as a secret's or config's target", r)
		}
	}()
	return opts.LoadProject(ctx)
}

// ValidateNamespace refuses a stack name that is empty or only blanks and
// quotes, as docker does.
func ValidateNamespace(ns string) error {
	if strings.Trim(ns, " \t\r\n\"'") == "" {
		return fmt.Errorf("invalid stack name: %q", ns)
	}
	return nil
}

// projectName is the compose project name the loader names objects with
// (PROJECT_key): the stack's name when compose accepts it, so the loader's
// names are the stack's, else a stand-in that Scope replaces.
func projectName(ns string) string {
	if loader.NormalizeProjectName(ns) == ns {
		return ns
	}
	sum := sha256.Sum256([]byte(ns))
	return "stack-" + hex.EncodeToString(sum[:8])
}

// Scope is the name of a stack object declared under key, as the docker CLI
// names it: NAMESPACE_key.
func Scope(ns, key string) string { return ns + "_" + key }

// objectName is the name of a top-level object as the loader set it (the
// key, scoped, unless the file named it), with the stack's real namespace.
func (p *Project) objectName(key, loaded string) string {
	if loaded == "" || loaded == Scope(p.Name, key) {
		return Scope(p.Namespace, key)
	}
	return loaded
}

func (p *Project) sortFindings(findings []loader.UnsupportedAttribute, ix *fileIndex) error {
	unsupported := map[string]bool{}
	var refused []error
	for _, f := range findings {
		parts := strings.Split(f.Path.String(), ".")
		name := f.Path.String()
		if len(parts) >= 3 && parts[0] == "services" {
			key := parts[2]
			if why, ok := forbidden[key]; ok && len(parts) == 3 {
				refused = append(refused, ix.at(parts, fmt.Errorf("%s: %s", key, why)))
				continue
			}
			if why, ok := deprecated[key]; ok && len(parts) == 3 {
				if p.Deprecated == nil {
					p.Deprecated = map[string]string{}
				}
				p.Deprecated[key] = why
				continue
			}
			name = strings.Join(slices.DeleteFunc(parts[2:], func(s string) bool { return s == "[]" }), ".")
		}
		unsupported[name] = true
	}
	if len(refused) > 0 {
		return fmt.Errorf("compose file contains unsupported options:\n%w", errors.Join(refused...))
	}
	for k := range unsupported {
		p.Unsupported = append(p.Unsupported, k)
	}
	slices.Sort(p.Unsupported)
	return nil
}

// check refuses what compose accepts and a stack cannot run: a service
// without an image or with one that is no image reference.
func (p *Project) check(ix *fileIndex) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		svc := p.Services[name]
		path := []string{"services", name, "image"}
		if svc.Image == "" {
			errs = append(errs, ix.at(path, fmt.Errorf("invalid image reference for service %s: no image specified", name)))
			continue
		}
		if _, err := reference.ParseAnyReference(svc.Image); err != nil {
			errs = append(errs, ix.at(path, fmt.Errorf("invalid image reference for service %s: %w", name, err)))
		}
	}
	return errors.Join(errs...)
}

// readFileObjects reads the files of the stack's secrets and configs, so
// that a missing one is refused before anything is created and Convert
// needs no file system.
func (p *Project) readFileObjects(ix *fileIndex) error {
	var errs []error
	read := func(kind, key, file string, limit int) (string, bool) {
		what := strings.TrimSuffix(kind, "s")
		data, err := readAtMost(file, limit)
		if err != nil {
			errs = append(errs, ix.at([]string{kind, key, "file"}, fmt.Errorf("%s %q: %w", what, key, err)))
			return "", false
		}
		return string(data), true
	}
	for key, s := range p.Secrets {
		if s.External || s.File == "" || s.Driver != "" {
			continue
		}
		if data, ok := read("secrets", key, s.File, limits.MaxSecretData); ok {
			s.Content = data
			p.Secrets[key] = s
		}
	}
	for key, c := range p.Configs {
		if c.External || c.File == "" {
			continue
		}
		if data, ok := read("configs", key, c.File, limits.MaxConfigData); ok {
			c.Content = data
			p.Configs[key] = c
		}
	}
	return errors.Join(errs...)
}

// readAtMost reads a file that must be shorter than limit bytes, as the
// daemon wants a secret's or a config's data; reading stops there, so that
// a file that never ends (/dev/zero) is refused instead
// of read until memory runs out.
func readAtMost(file string, limit int) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)))
	if err != nil {
		return nil, err
	}
	if len(data) >= limit {
		return nil, fmt.Errorf("%s is too large: the data must be less than %d bytes", file, limit)
	}
	return data, nil
}

// displayPath shortens a file name for messages: relative to the working
// directory when it is below it.
func displayPath(file string) string {
	wd, err := os.Getwd()
	if err != nil {
		return file
	}
	if rel, err := filepath.Rel(wd, file); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return file
}
