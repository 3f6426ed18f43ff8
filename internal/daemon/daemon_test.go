package daemon

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
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
