package format

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/image"
)

// ImageHeader is the header of `image ls`.
var ImageHeader = []string{"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"}

type imageRow struct {
	repo, tag, id string
	created       int64
	size          int64
}

func imageRowsOf(images []image.Summary, noTrunc bool) []imageRow {
	var out []imageRow
	for _, img := range images {
		id := img.ID
		if !noTrunc {
			id = TruncateID(id)
		}
		base := imageRow{id: id, created: img.Created, size: img.Size}
		switch {
		case len(img.RepoTags) > 0:
			for _, rt := range img.RepoTags {
				r := base
				r.repo, r.tag = splitRepoTag(rt)
				out = append(out, r)
			}
		case len(img.RepoDigests) > 0:
			for _, rd := range img.RepoDigests {
				r := base
				r.repo, _, _ = strings.Cut(rd, "@")
				r.tag = "<none>"
				out = append(out, r)
			}
		default:
			r := base
			r.repo, r.tag = "<none>", "<none>"
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b imageRow) int {
		if c := cmp.Compare(b.created, a.created); c != 0 {
			return c
		}
		if c := cmp.Compare(a.repo, b.repo); c != 0 {
			return c
		}
		return cmp.Compare(a.tag, b.tag)
	})
	return out
}

// ImageRows renders `image ls` rows, newest first, one per repository tag.
func ImageRows(images []image.Summary, noTrunc bool, now time.Time) [][]string {
	var rows [][]string
	for _, r := range imageRowsOf(images, noTrunc) {
		rows = append(rows, []string{r.repo, r.tag, r.id, Ago(time.Unix(r.created, 0), now), Size(r.size)})
	}
	return rows
}

// ImageIDs lists image IDs for `image ls -q`, each once, in listing order.
func ImageIDs(images []image.Summary, noTrunc bool) []string {
	var ids []string
	seen := map[string]bool{}
	for _, r := range imageRowsOf(images, noTrunc) {
		if !seen[r.id] {
			seen[r.id] = true
			ids = append(ids, r.id)
		}
	}
	return ids
}

// splitRepoTag splits "registry:5000/name:tag" at the tag's colon, not the port's.
func splitRepoTag(rt string) (repo, tag string) {
	i := strings.LastIndex(rt, ":")
	if i < 0 || strings.Contains(rt[i:], "/") {
		return rt, "<none>"
	}
	return rt[:i], rt[i+1:]
}
