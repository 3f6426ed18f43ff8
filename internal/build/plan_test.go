package build

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/errdefs"
)

const multiStage = `ARG BASE=busybox
ARG TAG
FROM ${BASE}${TAG} AS build
RUN make
FROM build AS test
RUN make test
FROM scratch
COPY --from=build /out /out
`

func TestParsePlan(t *testing.T) {
	type stage struct {
		Name      string
		Base      string
		BaseStage int
		Commands  int
	}
	tests := []struct {
		name       string
		dockerfile string
		target     string
		args       map[string]string
		want       []stage
		steps      int
		wantErr    string
	}{
		{
			name: "every stage", dockerfile: multiStage, steps: 8,
			want: []stage{{"build", "busybox", -1, 1}, {"test", "build", 0, 1}, {"", "scratch", -1, 1}},
		},
		{
			name: "up to the target, which is matched ignoring case", dockerfile: multiStage, target: "TEST", steps: 8,
			want: []stage{{"build", "busybox", -1, 1}, {"test", "build", 0, 1}},
		},
		{
			name: "build args fill meta args in FROM", dockerfile: multiStage, target: "build", steps: 8,
			args: map[string]string{"BASE": "alpine", "TAG": ":3"},
			want: []stage{{"build", "alpine:3", -1, 1}},
		},
		{name: "an unknown target", dockerfile: multiStage, target: "nope", wantErr: `target: stage "nope" not found`},
		{name: "no FROM", dockerfile: "ARG X=1\n", wantErr: "no FROM"},
		{name: "an unknown instruction", dockerfile: "FROM busybox\nFETCH x\n", wantErr: "dockerfile parse error"},
		{name: "an instruction before FROM", dockerfile: "RUN true\nFROM busybox\n", wantErr: "dockerfile parse error"},
		{name: "an empty base", dockerfile: "ARG B\nFROM ${B}\n", wantErr: "base image name is empty"},
		{name: "RUN --mount", dockerfile: "FROM busybox\nRUN --mount=type=cache,target=/c true\n", wantErr: "RUN --mount is not supported"},
		{name: "ADD from a URL", dockerfile: "FROM busybox\nADD https://example.com/x /x\n", wantErr: "ADD from a URL"},
		{name: "a heredoc", dockerfile: "FROM busybox\nRUN <<EOF\necho hi\nEOF\n", wantErr: "here-documents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePlan([]byte(tt.dockerfile), tt.target, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("ParsePlan = %v, want an Invalid error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []stage
			for _, s := range p.Stages {
				got = append(got, stage{s.Name, s.Base, s.BaseStage, len(s.Commands)})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stages (-want +got):\n%s", diff)
			}
			if p.Steps != tt.steps {
				t.Errorf("Steps = %d, want %d", p.Steps, tt.steps)
			}
		})
	}
}

func TestStageIndex(t *testing.T) {
	p, err := ParsePlan([]byte(multiStage), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		from   string
		before int
		want   int
		ok     bool
	}{
		{"build", 2, 0, true},
		{"BUILD", 2, 0, true},
		{"1", 2, 1, true},
		{"test", 1, 0, false}, // a later stage is not visible
		{"2", 2, 0, false},
		{"busybox", 2, 0, false}, // an image
	} {
		got, ok := StageIndex(p.Stages, tt.before, tt.from)
		if got != tt.want || ok != tt.ok {
			t.Errorf("StageIndex(%q, before %d) = %d, %v; want %d, %v", tt.from, tt.before, got, ok, tt.want, tt.ok)
		}
	}
}
