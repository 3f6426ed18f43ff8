package containerdexec

import (
	"strings"
	"testing"

	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/runtimes"
)

// applied is the containerd container the options make, and the
// ociVersion its spec says.
func applied(t *testing.T, set *runtimes.Set, host *container.HostConfig) (containers.Container, string, error) {
	t.Helper()
	ctrOpts, specOpts, err := withRuntime(set, host)
	var c containers.Container
	for _, o := range ctrOpts {
		if err := o(t.Context(), nil, &c); err != nil {
			t.Fatal(err)
		}
	}
	s := oci.Spec{Version: specs.Version}
	for _, o := range specOpts {
		if err := o(t.Context(), nil, &c, &s); err != nil {
			t.Fatal(err)
		}
	}
	return c, s.Version, err
}

func TestWithRuntime(t *testing.T) {
	crun, err := runtimes.New(runtimes.Crun, nil, func(string) (string, error) { return "/usr/bin/crun", nil })
	if err != nil {
		t.Fatal(err)
	}

	t.Run("runc leaves containerd's defaults", func(t *testing.T) {
		host := container.HostConfig{}
		c, version, err := applied(t, runtimes.RuncOnly(), &host)
		if err != nil {
			t.Fatal(err)
		}
		if host.Runtime != "runc" || c.Runtime.Name != "" || c.Runtime.Options != nil || version != specs.Version {
			t.Errorf("recorded %q, containerd runtime %+v, spec version %s; want runc recorded, no runtime set, version %s", host.Runtime, c.Runtime, version, specs.Version)
		}
	})

	for _, name := range []string{"", "crun"} {
		t.Run("crun by "+name+" runs the runc shim with crun", func(t *testing.T) {
			host := container.HostConfig{Runtime: name}
			c, version, err := applied(t, crun, &host)
			if err != nil {
				t.Fatal(err)
			}
			if host.Runtime != "crun" || c.Runtime.Name != "io.containerd.runc.v2" || c.Runtime.Options == nil {
				t.Fatalf("recorded %q, containerd runtime %+v; want crun recorded, the runc shim with options", host.Runtime, c.Runtime)
			}
			// crun 1.8.1 refuses any version without "1.0" in it.
			if !strings.Contains(version, "1.0") {
				t.Errorf("spec version %s, which crun 1.8.1 refuses", version)
			}
			v, err := typeurl.UnmarshalAny(c.Runtime.Options)
			if err != nil {
				t.Fatal(err)
			}
			if o, ok := v.(*options.Options); !ok || o.BinaryName != "/usr/bin/crun" {
				t.Errorf("shim options %#v, want BinaryName /usr/bin/crun", v)
			}
		})
	}

	t.Run("runc by name with crun the default", func(t *testing.T) {
		host := container.HostConfig{Runtime: "runc"}
		c, version, err := applied(t, crun, &host)
		if err != nil || host.Runtime != "runc" || c.Runtime.Name != "" || version != specs.Version {
			t.Errorf("recorded %q, containerd runtime %+v, spec version %s, err %v; want runc and containerd's defaults", host.Runtime, c.Runtime, version, err)
		}
	})

	t.Run("an unknown runtime is refused", func(t *testing.T) {
		host := container.HostConfig{Runtime: "crun"}
		_, _, err := applied(t, runtimes.RuncOnly(), &host)
		if !errdefs.Is(err, errdefs.KindInvalid) {
			t.Errorf("err %v, want invalid", err)
		}
	})
}
