package container

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestFromImage(t *testing.T) {
	img := dockerspec.DockerOCIImageConfig{
		ImageConfig: ocispec.ImageConfig{
			User: "app", WorkingDir: "/app", StopSignal: "SIGQUIT",
			Env:          []string{"PATH=/bin", "MODE=image"},
			Entrypoint:   []string{"/entry"},
			Cmd:          []string{"serve"},
			Labels:       map[string]string{"from": "image", "both": "image"},
			ExposedPorts: map[string]struct{}{"80/tcp": {}},
			Volumes:      map[string]struct{}{"/data": {}},
		},
		DockerOCIImageConfigExt: dockerspec.DockerOCIImageConfigExt{
			Healthcheck: &dockerspec.HealthcheckConfig{Test: []string{"CMD", "check"}, Interval: time.Second, Retries: 3},
		},
	}
	tests := []struct {
		name string
		req  containertypes.Config
		want containertypes.Config
		err  string
	}{
		{
			name: "the image fills in what the request leaves",
			req:  containertypes.Config{Image: "app"},
			want: containertypes.Config{
				Image: "app", User: "app", WorkingDir: "/app", StopSignal: "SIGQUIT",
				Env:          []string{"PATH=/bin", "MODE=image"},
				Entrypoint:   []string{"/entry"},
				Cmd:          []string{"serve"},
				Labels:       map[string]string{"from": "image", "both": "image"},
				ExposedPorts: network.PortSet{tcp80: {}},
				Volumes:      map[string]struct{}{"/data": {}},
				Healthcheck:  &containertypes.HealthConfig{Test: []string{"CMD", "check"}, Interval: time.Second, Retries: 3},
			},
		},
		{
			name: "the request wins; a cmd keeps the image's entrypoint",
			req: containertypes.Config{
				Image: "app", User: "root", WorkingDir: "/", Env: []string{"MODE=req"}, Cmd: []string{"debug"},
				Labels:       map[string]string{"both": "req"},
				ExposedPorts: network.PortSet{tcp81: {}},
				Healthcheck:  &containertypes.HealthConfig{Interval: 2 * time.Second},
			},
			want: containertypes.Config{
				Image: "app", User: "root", WorkingDir: "/", StopSignal: "SIGQUIT",
				Env:          []string{"MODE=req", "PATH=/bin"},
				Entrypoint:   []string{"/entry"},
				Cmd:          []string{"debug"},
				Labels:       map[string]string{"from": "image", "both": "req"},
				ExposedPorts: network.PortSet{tcp80: {}, tcp81: {}},
				Volumes:      map[string]struct{}{"/data": {}},
				Healthcheck:  &containertypes.HealthConfig{Test: []string{"CMD", "check"}, Interval: 2 * time.Second, Retries: 3},
			},
		},
		{
			name: "an entrypoint drops the image's cmd",
			req:  containertypes.Config{Image: "app", Entrypoint: []string{"sh", "-c"}},
			want: containertypes.Config{
				Image: "app", User: "app", WorkingDir: "/app", StopSignal: "SIGQUIT",
				Env:          []string{"PATH=/bin", "MODE=image"},
				Entrypoint:   []string{"sh", "-c"},
				Labels:       map[string]string{"from": "image", "both": "image"},
				ExposedPorts: network.PortSet{tcp80: {}},
				Volumes:      map[string]struct{}{"/data": {}},
				Healthcheck:  &containertypes.HealthConfig{Test: []string{"CMD", "check"}, Interval: time.Second, Retries: 3},
			},
		},
		{
			name: "an empty entrypoint removes the image's",
			req:  containertypes.Config{Image: "app", Entrypoint: []string{""}, Cmd: []string{"true"}},
			want: containertypes.Config{
				Image: "app", User: "app", WorkingDir: "/app", StopSignal: "SIGQUIT",
				Env:          []string{"PATH=/bin", "MODE=image"},
				Cmd:          []string{"true"},
				Labels:       map[string]string{"from": "image", "both": "image"},
				ExposedPorts: network.PortSet{tcp80: {}},
				Volumes:      map[string]struct{}{"/data": {}},
				Healthcheck:  &containertypes.HealthConfig{Test: []string{"CMD", "check"}, Interval: time.Second, Retries: 3},
			},
		},
		{
			name: "no command at all",
			req:  containertypes.Config{Image: "app", Entrypoint: []string{""}},
			err:  "no command specified: image app has none and the request gives none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromImage(tt.req, img)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("FromImage: %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b network.Port) bool { return a == b })); d != "" {
				t.Fatalf("FromImage (-want +got):\n%s", d)
			}
		})
	}
}
