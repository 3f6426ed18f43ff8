package images

import (
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// danglingPrefix names the record of an image that lost its last name, as
// Docker's containerd image store does, so that it is kept and listed as
// <none>:<none> instead of being collected under a running container.
const danglingPrefix = "moby-dangling@"

// normalize parses ref as Docker does: "busybox" is
// docker.io/library/busybox:latest.
func normalize(ref string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.Invalid("invalid reference format %q: %w", ref, err)
	}
	// A digest pins the image; Docker drops a tag given with it.
	if canonical, ok := named.(reference.Canonical); ok {
		if _, tagged := named.(reference.Tagged); tagged {
			return reference.WithDigest(reference.TrimNamed(named), canonical.Digest())
		}
	}
	return reference.TagNameOnly(named), nil
}

// familiar is how Docker shows a stored name ("busybox:latest",
// "127.0.0.1:5000/x:v1"); ok is false for a dangling or unparsable one.
func familiar(name string) (string, bool) {
	named, ok := parseStored(name)
	if !ok {
		return "", false
	}
	return reference.FamiliarString(named), true
}

// repoDigest is the "repo@digest" Docker shows for a stored name whose
// image has the manifest (or index) digest dgst.
func repoDigest(name string, dgst digest.Digest) (string, bool) {
	named, ok := parseStored(name)
	if !ok {
		return "", false
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(named), dgst)
	if err != nil {
		return "", false
	}
	return reference.FamiliarString(canonical), true
}

// repository is the familiar repository of a stored name ("busybox").
func repository(name string) (string, bool) {
	named, ok := parseStored(name)
	if !ok {
		return "", false
	}
	return reference.FamiliarName(named), true
}

// isTagged reports whether a stored name carries a tag, as opposed to a
// digest-only reference (busybox@sha256:...), which Docker lists only among
// the repo digests.
func isTagged(name string) bool {
	named, ok := parseStored(name)
	if !ok {
		return false
	}
	_, tagged := named.(reference.Tagged)
	return tagged
}

func parseStored(name string) (reference.Named, bool) {
	if strings.HasPrefix(name, danglingPrefix) {
		return nil, false
	}
	named, err := reference.ParseNormalizedNamed(name)
	return named, err == nil
}

// idPrefix returns the hex digits of s when s can name an image by ID:
// "sha256:<hex>" or a bare hex prefix of one.
func idPrefix(s string) (string, bool) {
	hex, _ := strings.CutPrefix(s, "sha256:")
	if hex == "" || len(hex) > 64 {
		return "", false
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return hex, true
}

// shortID is the 12 hex digits Docker shows for an image ID.
func shortID(id digest.Digest) string {
	hex := id.Encoded()
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}
