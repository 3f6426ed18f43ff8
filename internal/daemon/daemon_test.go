package daemon

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/apitls"
)

func TestParseGenericResources(t *testing.T) {
	discrete := func(k string, n int64) swarm.GenericResource {
		return swarm.GenericResource{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: k, Value: n}}
	}
	named := func(k, v string) swarm.GenericResource {
		return swarm.GenericResource{NamedResourceSpec: &swarm.NamedGenericResource{Kind: k, Value: v}}
	}
	tests := []struct {
		name    string
		in      []string
		want    []swarm.GenericResource
		wantErr bool
	}{
		{name: "none", in: nil, want: nil},
		{name: "a count", in: []string{"gpu=2"}, want: []swarm.GenericResource{discrete("gpu", 2)}},
		{name: "names of one kind", in: []string{"gpu=GPU-a", "ssd=fast", "gpu=GPU-b"}, want: []swarm.GenericResource{
			named("gpu", "GPU-a"), named("gpu", "GPU-b"), named("ssd", "fast"),
		}},
		{name: "count and names of other kinds", in: []string{"fpga=1", "gpu=GPU-a"}, want: []swarm.GenericResource{discrete("fpga", 1), named("gpu", "GPU-a")}},
		{name: "two counts of one kind", in: []string{"gpu=1", "gpu=2"}, wantErr: true},
		{name: "count and name of one kind", in: []string{"gpu=1", "gpu=GPU-a"}, wantErr: true},
		{name: "negative count", in: []string{"gpu=-1"}, wantErr: true},
		{name: "no value", in: []string{"gpu="}, wantErr: true},
		{name: "no kind", in: []string{"=2"}, wantErr: true},
		{name: "no equals", in: []string{"gpu"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGenericResources(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseHosts(t *testing.T) {
	plain, err := apitls.NewListeners(apitls.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	insecure, err := apitls.NewListeners(apitls.Options{InsecureTCP: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      []string
		tcp     *apitls.Listeners
		withTLS bool
		want    []host
		wantErr string
	}{
		{name: "unix", in: []string{"unix:///run/s.sock"}, tcp: plain, want: []host{{"unix", "/run/s.sock"}}},
		{name: "tcp without TLS refused", in: []string{"unix:///run/s.sock", "tcp://0.0.0.0:2375"}, tcp: plain, wantErr: "--insecure-tcp"},
		{name: "tcp with --insecure-tcp", in: []string{"tcp://127.0.0.1:2375"}, tcp: insecure, want: []host{{"tcp", "127.0.0.1:2375"}}},
		{name: "tcp default port without TLS", in: []string{"tcp://127.0.0.1"}, tcp: insecure, want: []host{{"tcp", "127.0.0.1:2375"}}},
		{name: "tcp default port with TLS", in: []string{"tcp://0.0.0.0"}, tcp: insecure, withTLS: true, want: []host{{"tcp", "0.0.0.0:2376"}}},
		{name: "tcp IPv6", in: []string{"tcp://[::1]:2376"}, tcp: insecure, want: []host{{"tcp", "[::1]:2376"}}},
		{name: "tcp with a path", in: []string{"tcp://127.0.0.1:2375/x"}, tcp: insecure, wantErr: "want tcp://host:port"},
		{name: "unix without a path", in: []string{"unix://"}, tcp: plain, wantErr: "want unix:///path"},
		{name: "other scheme", in: []string{"fd://"}, tcp: plain, wantErr: "scheme must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseHosts(tt.in, tt.tcp, tt.withTLS)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(host{})); diff != "" {
				t.Errorf("hosts (-want +got):\n%s", diff)
			}
		})
	}
}
