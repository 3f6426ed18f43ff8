package lb

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the rule sets in testdata/*.nft from their inputs")

// A golden file is testdata/{vips,mesh}-NAME.nft: comment lines saying what
// the case shows, a line "# input:", the input as JSON in comment lines
// ([]VIP or Mesh, by the file's prefix), then the table the builder makes
// from it, as nft text. Being comments, the input keeps the file valid nft.
type golden struct {
	path   string
	header string // the comment lines, the input among them
	input  []byte
	want   string
}

func readGoldens(t *testing.T) []golden {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.nft")
	if err != nil || len(paths) == 0 {
		t.Fatalf("got %d golden files (%v), want some", len(paths), err)
	}
	var gs []golden
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		g := golden{path: p}
		lines := strings.SplitAfter(string(b), "\n")
		inInput := false
		i := 0
		for ; i < len(lines) && strings.HasPrefix(lines[i], "#"); i++ {
			g.header += lines[i]
			if inInput {
				g.input = append(g.input, strings.TrimPrefix(lines[i], "#")...)
			}
			if strings.TrimSpace(lines[i]) == "# input:" {
				inInput = true
			}
		}
		if !inInput {
			t.Fatalf("%s: no '# input:' line", p)
		}
		g.want = strings.Join(lines[i:], "")
		gs = append(gs, g)
	}
	return gs
}

// build makes the golden file's table from its input.
func (g golden) build() (*table, error) {
	dec := json.NewDecoder(bytes.NewReader(g.input))
	dec.DisallowUnknownFields()
	switch base := filepath.Base(g.path); {
	case strings.HasPrefix(base, "vips-"):
		var vips []VIP
		if err := dec.Decode(&vips); err != nil {
			return nil, fmt.Errorf("%s: input: %w", g.path, err)
		}
		return buildVIPs(vips)
	case strings.HasPrefix(base, "mesh-"):
		var m Mesh
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("%s: input: %w", g.path, err)
		}
		return buildMesh(m)
	}
	return nil, fmt.Errorf("%s: name starts with neither vips- nor mesh-", g.path)
}

func TestGolden(t *testing.T) {
	for _, g := range readGoldens(t) {
		t.Run(strings.TrimSuffix(filepath.Base(g.path), ".nft"), func(t *testing.T) {
			tab, err := g.build()
			if err != nil {
				t.Fatal(err)
			}
			got := tab.String()
			if *update {
				if err := os.WriteFile(g.path, []byte(g.header+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(g.want, got); diff != "" {
				t.Errorf("rule set differs from %s (-want +got; go test -update rewrites it):\n%s", g.path, diff)
			}
		})
	}
}

// inlineSet is an anonymous set or map printed on one line.
var inlineSet = regexp.MustCompile(`\{ ([^{}]*) \}`)

// normalize makes two listings of one table comparable: nft wraps long
// element lists, orders elements as the kernel keeps them and may indent
// differently; comments (the golden files' inputs) are dropped.
func normalize(text string) string {
	var lines []string
	pending := ""
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = pending + line
		if strings.HasSuffix(line, ",") {
			pending = line + " "
			continue
		}
		pending = ""
		lines = append(lines, inlineSet.ReplaceAllStringFunc(line, func(set string) string {
			items := strings.Split(set[2:len(set)-2], ", ")
			slices.Sort(items)
			return "{ " + strings.Join(items, ", ") + " }"
		}))
	}
	return strings.Join(lines, "\n")
}

func TestNormalize(t *testing.T) {
	a := "table ip t {\n\tmap m {\n\t\telements = { b : goto x,\n\t\t\t     a : goto y }\n\t}\n}\n"
	b := "# a comment\ntable ip t {\n    map m {\n        elements = { a : goto y, b : goto x }\n    }\n}"
	if normalize(a) != normalize(b) {
		t.Errorf("got %q and %q, want them equal", normalize(a), normalize(b))
	}
	c := strings.Replace(b, "goto y", "goto z", 1)
	if normalize(a) == normalize(c) {
		t.Errorf("got %q for two different tables, want them to differ", normalize(a))
	}
}
