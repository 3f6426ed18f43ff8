package build

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shoal-project/shoal/internal/atomicfile"
)

// StepKey is a step's cache key: what the image was before it (the
// previous key), the instruction as expanded, and what else the step
// reads (the content of the files it copies, the build args in scope).
// Two steps with the same key make the same image.
func StepKey(prev digest.Digest, instruction string, extra ...string) digest.Digest {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%q\n", prev, instruction)
	for _, e := range extra {
		fmt.Fprintf(h, "%q\n", e)
	}
	return digest.NewDigest(digest.SHA256, h)
}

// cacheEntry is the image a step made: its config and the blobs of its
// layers, whose snapshots are in the snapshotter under their chain IDs.
type cacheEntry struct {
	Image  dockerspec.DockerOCIImage `json:"image"`
	Layers []ocispec.Descriptor      `json:"layers"`
}

// cacheStore keeps cache entries as files, one per key, in dir; the
// blobs and snapshots they name are held by the build cache lease.
type cacheStore struct{ dir string }

func (c cacheStore) path(key digest.Digest) string {
	return filepath.Join(c.dir, key.Encoded()+".json")
}

func (c cacheStore) get(key digest.Digest) (cacheEntry, bool) {
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return cacheEntry{}, false
	}
	var e cacheEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return cacheEntry{}, false
	}
	return e, true
}

// put writes the entry whole or not at all: a crash leaves no half entry
// for the next build to trust.
func (c cacheStore) put(key digest.Digest, e cacheEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return atomicfile.Write(c.path(key), b, 0o600)
}

// hashTree digests the files under root/rel the way a COPY reads them:
// names, kinds, modes, link targets and contents, not times, so touching a
// file keeps the cache and editing it does not.
func hashTree(w io.Writer, root, rel string) error {
	base := filepath.Join(root, rel)
	return filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		name, _ := filepath.Rel(root, p)
		fmt.Fprintf(w, "%q %v\n", filepath.ToSlash(name), info.Mode())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "-> %q\n", target)
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%x\n", h.Sum(nil))
		}
		return nil
	})
}

// sourcesDigest digests the context files a COPY or ADD reads.
func sourcesDigest(root string, matches []string) (string, error) {
	h := sha256.New()
	sorted := append([]string(nil), matches...)
	sort.Strings(sorted)
	for _, m := range sorted {
		rel, err := filepath.Rel(root, m)
		if err != nil || strings.HasPrefix(rel, "..") {
			return "", fmt.Errorf("source %s is outside the context", m)
		}
		if err := hashTree(h, root, rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
