package apiserver

import (
	"context"
	"errors"
	"testing"

	"github.com/moby/moby/api/types/swarm"
)

// pins pins "app:v1" to sha256:aaa…, fails on "broken" and knows nothing
// else.
type pins struct{}

func (pins) PinImage(_ context.Context, ref string) (string, bool, error) {
	switch ref {
	case "app:v1":
		return ref + "@sha256:" + digestHex, true, nil
	case "broken":
		return "", false, errors.New("index unreachable")
	}
	return "", false, nil
}

const digestHex = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestPinImage(t *testing.T) {
	tests := []struct {
		name, image, prev, want string
		pins                    ImagePins
	}{
		{"held: pinned", "app:v1", "", "app:v1@sha256:" + digestHex, pins{}},
		{"unchanged by an update: left alone", "app:v1", "app:v1", "app:v1", pins{}},
		{"changed by an update: pinned", "app:v1", "app:v0", "app:v1@sha256:" + digestHex, pins{}},
		{"held by no node: left to the registry", "other:v1", "", "other:v1", pins{}},
		{"the index failing: left alone", "broken", "", "broken", pins{}},
		{"the index failing on the tag the service runs pinned: kept pinned", "broken", "broken@sha256:" + digestHex, "broken@sha256:" + digestHex, pins{}},
		{"the index failing on another tag: left alone", "broken", "app:v1@sha256:" + digestHex, "broken", pins{}},
		{"no pins: left alone", "app:v1", "", "app:v1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{ImagePins: tt.pins})
			spec := swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: tt.image}}}
			s.pinImage(t.Context(), &spec, tt.prev)
			if got := spec.TaskTemplate.ContainerSpec.Image; got != tt.want {
				t.Errorf("image %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("no container spec", func(t *testing.T) {
		spec := swarm.ServiceSpec{}
		New(Config{ImagePins: pins{}}).pinImage(t.Context(), &spec, "")
	})
}
