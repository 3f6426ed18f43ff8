package build

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    Options
		wantErr string // a substring of the error, which is always Invalid
	}{
		{name: "defaults", query: "", want: Options{Dockerfile: "Dockerfile"}},
		{
			name:  "what the docker CLI sends",
			query: "t=web&t=registry.example.com/team/web:v1&dockerfile=build/Dockerfile.prod&buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3Anull%7D&labels=%7B%22l%22%3A%22v%22%7D&target=final&nocache=1&q=true&pull=0&rm=1&forcerm=0&version=1",
			want: Options{
				Tags:       []string{"docker.io/library/web:latest", "registry.example.com/team/web:v1"},
				Dockerfile: "build/Dockerfile.prod",
				BuildArgs:  map[string]string{"A": "1"},
				Labels:     map[string]string{"l": "v"},
				Target:     "final",
				NoCache:    true,
				Quiet:      true,
			},
		},
		{name: "a leading slash stays inside the context", query: "dockerfile=/Dockerfile.x", want: Options{Dockerfile: "Dockerfile.x"}},
		{name: "amd64 is this platform", query: "platform=linux/amd64", want: Options{Dockerfile: "Dockerfile"}},
		{name: "a bad tag", query: "t=UPPER:case", wantErr: "t: invalid reference format"},
		{name: "a digest tag", query: "t=web@sha256:" + strings.Repeat("a", 64), wantErr: "t: cannot tag with a digest"},
		{name: "a dockerfile outside the context", query: "dockerfile=../Dockerfile", wantErr: "dockerfile:"},
		{name: "buildargs not an object", query: "buildargs=[1]", wantErr: "buildargs: not a JSON object"},
		{name: "labels not strings", query: "labels=%7B%22a%22%3A1%7D", wantErr: "labels: not a JSON object"},
		{name: "nocache not a boolean", query: "nocache=maybe", wantErr: "nocache: \"maybe\" is not a boolean"},
		{name: "BuildKit's session API", query: "version=2", wantErr: "version: builder version \"2\""},
		{name: "a remote context", query: "remote=https://github.com/x/y.git", wantErr: "remote context"},
		{name: "another platform", query: "platform=linux/arm64", wantErr: "another platform"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseOptions(q)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("ParseOptions(%s) = %v, want an Invalid error with %q", tt.query, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOptions(%s): %v", tt.query, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseOptions(%s) (-want +got):\n%s", tt.query, diff)
			}
		})
	}
}
