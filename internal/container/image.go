package container

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// FromImage fills in a create request's config from its image's, as
// dockerd does: the user, working directory, stop signal and shell when
// the request has none; the image's environment variables and labels
// under the request's; the exposed ports and volumes of both; the image's
// health check where the request's leaves a field unset; and the command:
// an entrypoint in the request replaces the image's entrypoint and cmd, a
// cmd alone replaces the image's cmd. An entrypoint of one empty string
// removes the image's. A config that ends up with no command is refused.
func FromImage(cfg containertypes.Config, img dockerspec.DockerOCIImageConfig) (containertypes.Config, error) {
	out := cfg
	if out.User == "" {
		out.User = img.User
	}
	if out.WorkingDir == "" {
		out.WorkingDir = img.WorkingDir
	}
	if out.StopSignal == "" {
		out.StopSignal = img.StopSignal
	}
	if len(out.Shell) == 0 {
		out.Shell = slices.Clone(img.Shell)
	}
	out.Env = mergeEnv(img.Env, cfg.Env)
	if len(img.Labels)+len(cfg.Labels) > 0 {
		out.Labels = maps.Clone(img.Labels)
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		maps.Copy(out.Labels, cfg.Labels)
	}
	if len(img.ExposedPorts)+len(cfg.ExposedPorts) > 0 {
		out.ExposedPorts = network.PortSet{}
		maps.Copy(out.ExposedPorts, cfg.ExposedPorts)
		for p := range img.ExposedPorts {
			port, err := network.ParsePort(p)
			if err != nil {
				return containertypes.Config{}, errdefs.Invalid("image %s exposes an invalid port: %v", cfg.Image, err)
			}
			out.ExposedPorts[port] = struct{}{}
		}
	}
	if len(img.Volumes)+len(cfg.Volumes) > 0 {
		out.Volumes = map[string]struct{}{}
		maps.Copy(out.Volumes, img.Volumes)
		maps.Copy(out.Volumes, cfg.Volumes)
	}
	switch {
	case len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == "":
		out.Entrypoint = nil
	case len(cfg.Entrypoint) > 0:
	default:
		out.Entrypoint = slices.Clone(img.Entrypoint)
		if len(cfg.Cmd) == 0 {
			out.Cmd = slices.Clone(img.Cmd)
		}
	}
	out.Healthcheck = mergeHealthcheck(cfg.Healthcheck, img.Healthcheck)
	if len(out.Entrypoint)+len(out.Cmd) == 0 {
		return containertypes.Config{}, errdefs.Invalid("no command specified: image %s has none and the request gives none", cfg.Image)
	}
	return out, nil
}

// mergeEnv returns the request's variables, then the image's that the
// request does not set.
func mergeEnv(image, request []string) []string {
	out := slices.Clone(request)
	set := map[string]bool{}
	for _, e := range request {
		k, _, _ := strings.Cut(e, "=")
		set[k] = true
	}
	for _, e := range image {
		if k, _, _ := strings.Cut(e, "="); !set[k] {
			out = append(out, e)
		}
	}
	return out
}

// mergeHealthcheck is the request's health check with what it leaves
// unset taken from the image's.
func mergeHealthcheck(req, img *containertypes.HealthConfig) *containertypes.HealthConfig {
	if req == nil {
		if img == nil {
			return nil
		}
		c := *img
		return &c
	}
	c := *req
	if img == nil {
		return &c
	}
	if len(c.Test) == 0 {
		c.Test = img.Test
	}
	c.Interval = cmp.Or(c.Interval, img.Interval)
	c.Timeout = cmp.Or(c.Timeout, img.Timeout)
	c.StartPeriod = cmp.Or(c.StartPeriod, img.StartPeriod)
	c.StartInterval = cmp.Or(c.StartInterval, img.StartInterval)
	if c.Retries == 0 {
		c.Retries = img.Retries
	}
	return &c
}
