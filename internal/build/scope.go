package build

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// defaultShell is what shell-form RUN, CMD and ENTRYPOINT run under when
// no SHELL instruction said otherwise.
var defaultShell = []string{"/bin/sh", "-c"}

// Scope is what a stage's instructions see and change: the image so far,
// the ARGs the stage declared, and whether it set CMD itself.
type Scope struct {
	Image dockerspec.DockerOCIImage
	// Args are the stage's declared ARGs with their values, in order;
	// they are seen by expansion and RUN, never stored in the image.
	Args   []string
	CmdSet bool
}

// Env is what ${VAR} expands from: the image's environment over the
// stage's ARGs, as Docker gives ENV precedence.
func (s *Scope) Env() shell.EnvGetter { return shell.EnvsFromSlice(s.RunEnv()) }

// RunEnv is a RUN step's environment: the ARGs, then the image's ENV,
// which wins on a name both set.
func (s *Scope) RunEnv() []string {
	env := slices.Clone(s.Image.Config.Env)
	for _, a := range s.Args {
		k, _, _ := strings.Cut(a, "=")
		if _, ok := lookupEnv(env, k); !ok {
			env = append(env, a)
		}
	}
	return env
}

func lookupEnv(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v, true
		}
	}
	return "", false
}

func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env = slices.Clone(env)
			env[i] = key + "=" + value
			return env
		}
	}
	return append(slices.Clone(env), key+"="+value)
}

// Expand substitutes variables in the instruction's words, for those
// instructions Docker expands (not RUN, CMD or ENTRYPOINT: their shell
// does).
func (s *Scope) Expand(c instructions.Command, lex *shell.Lex) error {
	ex, ok := c.(instructions.SupportsSingleWordExpansion)
	if !ok {
		return nil
	}
	env := s.Env()
	err := ex.Expand(func(word string) (string, error) {
		out, _, err := lex.ProcessWord(word, env)
		return out, err
	})
	if err != nil {
		return errdefs.Invalid("%s: %v", code(c), err)
	}
	return nil
}

// Shell is the shell that shell-form commands run under.
func (s *Scope) Shell() []string {
	if len(s.Image.Config.Shell) > 0 {
		return s.Image.Config.Shell
	}
	return defaultShell
}

// CommandLine is the argv of a RUN, CMD or ENTRYPOINT.
func (s *Scope) CommandLine(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append(slices.Clone(s.Shell()), strings.Join(c.CmdLine, " "))
	}
	return slices.Clone(c.CmdLine)
}

// DeclareArg records an ARG of the stage: a build arg's value, else the
// value the same ARG had before the first FROM, else its default.
func (s *Scope) DeclareArg(kv instructions.KeyValuePairOptional, buildArgs map[string]string, metaEnv []string) {
	v, ok := buildArgs[kv.Key]
	if !ok {
		v, ok = lookupEnv(metaEnv, kv.Key)
	}
	if !ok && kv.Value != nil {
		v, ok = *kv.Value, true
	}
	if !ok {
		return
	}
	s.Args = setEnv(s.Args, kv.Key, v)
}

// ApplyMeta makes the change an instruction that touches only the image
// config makes; it reports false for those that make a layer (RUN, COPY,
// ADD) or that the builder handles itself (ARG, ONBUILD triggers).
func (s *Scope) ApplyMeta(c instructions.Command) (bool, error) {
	cfg := &s.Image.Config
	switch c := c.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		} else {
			cfg.Labels = maps.Clone(cfg.Labels)
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.MaintainerCommand:
		s.Image.Author = c.Maintainer
	case *instructions.WorkdirCommand:
		cfg.WorkingDir = resolvePath(cfg.WorkingDir, c.Path)
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.CmdCommand:
		cfg.Cmd = s.CommandLine(c.ShellDependantCmdLine)
		s.CmdSet = true
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = s.CommandLine(c.ShellDependantCmdLine)
		// An ENTRYPOINT drops the CMD the base image had, which was
		// meant for its own entrypoint.
		if !s.CmdSet {
			cfg.Cmd = nil
		}
	case *instructions.ExposeCommand:
		ports, err := exposedPorts(c.Ports)
		if err != nil {
			return true, errdefs.Invalid("%s: %v", code(c), err)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		} else {
			cfg.ExposedPorts = maps.Clone(cfg.ExposedPorts)
		}
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		} else {
			cfg.Volumes = maps.Clone(cfg.Volumes)
		}
		for _, v := range c.Volumes {
			if v == "" {
				return true, errdefs.Invalid("%s: VOLUME specified can not be an empty string", code(c))
			}
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.HealthCheckCommand:
		hc := *c.Health
		cfg.Healthcheck = &hc
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	case *instructions.ShellCommand:
		cfg.Shell = slices.Clone(c.Shell)
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(slices.Clone(cfg.OnBuild), c.Expression)
	default:
		return false, nil
	}
	return true, nil
}

// resolvePath makes p absolute against dir, as WORKDIR and a relative
// COPY destination are.
func resolvePath(dir, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	if dir == "" {
		dir = "/"
	}
	out := path.Join(dir, p)
	if strings.HasSuffix(p, "/") && out != "/" {
		out += "/"
	}
	return out
}

// exposedPorts reads EXPOSE's "80", "53/udp" and "8000-8002/tcp".
func exposedPorts(specs []string) ([]string, error) {
	var out []string
	for _, spec := range specs {
		ports, proto, _ := strings.Cut(spec, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("invalid proto %q in %q", proto, spec)
		}
		lo, hi, isRange := strings.Cut(ports, "-")
		start, err := strconv.ParseUint(lo, 10, 16)
		if err != nil || start == 0 {
			return nil, fmt.Errorf("invalid port %q", spec)
		}
		end := start
		if isRange {
			if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
				return nil, fmt.Errorf("invalid port range %q", spec)
			}
		}
		for p := start; p <= end; p++ {
			out = append(out, fmt.Sprintf("%d/%s", p, proto))
		}
	}
	return out, nil
}

// AddHistory records a step in the image's history, as docker history
// shows it.
func (s *Scope) AddHistory(now time.Time, createdBy string, emptyLayer bool) {
	s.Image.Created = &now
	s.Image.History = append(slices.Clone(s.Image.History), ocispec.History{Created: &now, CreatedBy: createdBy, EmptyLayer: emptyLayer})
}
