package apiserver

import (
	"context"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/controlapi"
)

// ImagePins pin a service's image to the digest the swarm holds it as
// (node.Node), so that every node runs the same content and can fetch it
// from another node (docs/IMAGES-PEER.md).
type ImagePins interface {
	// PinImage returns ref pinned to the digest of the image this manager
	// holds under that name, else the one the swarm's nodes hold; ok is
	// false when ref is pinned already or no node holds it.
	PinImage(ctx context.Context, ref string) (pinned string, ok bool, err error)
}

// pinImage pins spec's image when it has no digest yet (the docker CLI
// pins a registry's digest itself, and not with --no-resolve-image) and
// differs from prev, the image the service runs now: an update that
// leaves the image alone never moves it to other content. An image no
// node holds is left to the registry, as before.
func (s *Server) pinImage(ctx context.Context, spec *swarm.ServiceSpec, prev string) {
	cs := spec.TaskTemplate.ContainerSpec
	if s.cfg.ImagePins == nil || cs == nil || cs.Image == "" || cs.Image == prev {
		return
	}
	pinned, ok, err := s.cfg.ImagePins.PinImage(ctx, cs.Image)
	if err != nil {
		s.log.Warn("cannot pin the service's image to the digest the swarm holds", "image", cs.Image, "err", err)
		if pinnedTag(prev) == cs.Image {
			// The service runs this tag pinned: sending the bare tag
			// back must not unpin it because the index could not be
			// read just now, which would change the task spec and
			// start a rolling update no one asked for.
			cs.Image = prev
		}
		return
	}
	if ok {
		cs.Image = pinned
	}
}

// pinnedTag is the reference ref pins to a digest ("app:v1" of
// "app:v1@sha256:…"); "" when ref has no digest.
func pinnedTag(ref string) string {
	tag, _, ok := strings.Cut(ref, "@")
	if !ok {
		return ""
	}
	return tag
}

// currentImage is the image service id runs now; "" when it cannot be
// read (the update then fails on its own).
func currentImage(ctx context.Context, c *controlapi.API, id string) string {
	svc, err := c.GetService(ctx, id, false)
	if err != nil || svc.Spec.TaskTemplate.ContainerSpec == nil {
		return ""
	}
	return svc.Spec.TaskTemplate.ContainerSpec.Image
}
