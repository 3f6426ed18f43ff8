package apiserver

import (
	"net/http"
	"runtime"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
)

// ping answers HEAD and GET /_ping as dockerd does; the docker CLI reads
// Api-Version from it before every command, and Swarm to show the swarm
// commands.
func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Swarm", s.swarmStatus(r))
	// The classic builder (POST /build with the context as the body), which
	// the docker CLI uses when it has no buildx; "2" would send it to buildx.
	h.Set("Builder-Version", "1")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	h.Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("OK"))
	return err
}

// swarmStatus is the Swarm header: the local node state, with the role
// when active ("active/manager").
func (s *Server) swarmStatus(r *http.Request) string {
	if s.cfg.Cluster == nil {
		return string(swarm.LocalNodeStateInactive)
	}
	info := s.cfg.Cluster.Info(r.Context())
	state := string(info.LocalNodeState)
	if state == "" {
		return string(swarm.LocalNodeStateInactive)
	}
	if info.LocalNodeState == swarm.LocalNodeStateActive {
		if info.ControlAvailable {
			return state + "/manager"
		}
		return state + "/worker"
	}
	return state
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	var kernel string
	if s.cfg.System != nil {
		if info, err := s.cfg.System.Info(r.Context()); err == nil {
			kernel = info.KernelVersion
		}
	}
	v := system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "Shoal"},
		Version:       s.cfg.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		GitCommit:     s.cfg.GitCommit,
		GoVersion:     runtime.Version(),
		KernelVersion: kernel,
		BuildTime:     s.cfg.BuildTime,
	}
	v.Components = []system.ComponentVersion{{
		Name:    "Engine",
		Version: v.Version,
		Details: map[string]string{
			"ApiVersion":    v.APIVersion,
			"MinAPIVersion": v.MinAPIVersion,
			"GitCommit":     v.GitCommit,
			"GoVersion":     v.GoVersion,
			"Os":            v.Os,
			"Arch":          v.Arch,
			"KernelVersion": v.KernelVersion,
			"BuildTime":     v.BuildTime,
			"Experimental":  "false",
		},
	}}
	return writeJSON(w, http.StatusOK, v)
}

// info answers GET /info: the System backend's host fields, the Swarm
// section and the container and image counts. A backend that fails
// leaves its part out rather than fail the whole answer, as `docker info`
// is what people run when something is wrong.
func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var info system.Info
	if s.cfg.System != nil {
		var err error
		if info, err = s.cfg.System.Info(ctx); err != nil {
			s.log.Warn("system info", "err", err)
			info.Warnings = append(info.Warnings, "WARNING: "+err.Error())
		}
	}
	if info.OSType == "" {
		info.OSType = runtime.GOOS
	}
	if info.Architecture == "" {
		info.Architecture = runtime.GOARCH
	}
	if info.ServerVersion == "" {
		info.ServerVersion = s.cfg.Version
	}
	info.SystemTime = time.Now().Format(time.RFC3339Nano)
	info.NGoroutines = runtime.NumGoroutine()
	if s.cfg.Cluster != nil {
		info.Swarm = s.cfg.Cluster.Info(ctx)
	} else {
		info.Swarm = swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	}
	if s.cfg.Containers != nil {
		list, err := s.cfg.Containers.List(ctx, true, nil)
		if err != nil {
			s.log.Warn("count containers for info", "err", err)
		}
		for _, c := range list {
			info.Containers++
			switch c.State {
			case container.StateRunning:
				info.ContainersRunning++
			case container.StatePaused:
				info.ContainersPaused++
			default:
				info.ContainersStopped++
			}
		}
	}
	if s.cfg.Images != nil {
		list, err := s.cfg.Images.List(ctx)
		if err != nil {
			s.log.Warn("count images for info", "err", err)
		}
		info.Images = len(list)
	}
	return writeJSON(w, http.StatusOK, info)
}
