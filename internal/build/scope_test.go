package build

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// parseOne parses one instruction as it would appear in a Dockerfile.
func parseOne(t *testing.T, line string) instructions.Command {
	t.Helper()
	res, err := parser.Parse(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	c, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestScopeApply runs instructions over an image config, expanding them
// as the builder does, and compares the config that results.
func TestScopeApply(t *testing.T) {
	base := dockerspec.DockerOCIImageConfig{}
	base.Env = []string{"PATH=/bin"}
	base.Cmd = []string{"sh"}
	tests := []struct {
		name  string
		lines []string
		args  map[string]string
		want  func(c *dockerspec.DockerOCIImageConfig)
	}{
		{
			name:  "ENV replaces and adds, expanding earlier values",
			lines: []string{"ENV PATH=/usr/bin:$PATH A=1", "ENV B=${A}2"},
			want:  func(c *dockerspec.DockerOCIImageConfig) { c.Env = []string{"PATH=/usr/bin:/bin", "A=1", "B=12"} },
		},
		{
			name:  "ARG from a build arg, seen by expansion, ENV winning",
			lines: []string{"ARG V=default", "ARG W", "LABEL v=$V w=${W:-unset}", "ENV V=env", "LABEL after=$V"},
			args:  map[string]string{"V": "fromarg"},
			want: func(c *dockerspec.DockerOCIImageConfig) {
				c.Labels = map[string]string{"v": "fromarg", "w": "unset", "after": "env"}
				c.Env = []string{"PATH=/bin", "V=env"}
			},
		},
		{
			name:  "WORKDIR relative to the last",
			lines: []string{"WORKDIR /app", "WORKDIR src", "WORKDIR ../lib"},
			want:  func(c *dockerspec.DockerOCIImageConfig) { c.WorkingDir = "/app/lib" },
		},
		{
			name:  "shell-form CMD runs under SHELL",
			lines: []string{`SHELL ["/bin/bash", "-ec"]`, "CMD echo hi"},
			want: func(c *dockerspec.DockerOCIImageConfig) {
				c.Shell = []string{"/bin/bash", "-ec"}
				c.Cmd = []string{"/bin/bash", "-ec", "echo hi"}
			},
		},
		{
			name:  "ENTRYPOINT drops the inherited CMD",
			lines: []string{`ENTRYPOINT ["/app"]`},
			want:  func(c *dockerspec.DockerOCIImageConfig) { c.Entrypoint = []string{"/app"}; c.Cmd = nil },
		},
		{
			name:  "ENTRYPOINT keeps a CMD the stage set",
			lines: []string{`CMD ["--flag"]`, `ENTRYPOINT ["/app"]`},
			want:  func(c *dockerspec.DockerOCIImageConfig) { c.Entrypoint = []string{"/app"}; c.Cmd = []string{"--flag"} },
		},
		{
			name:  "EXPOSE ranges and protocols, VOLUME, USER, STOPSIGNAL, ONBUILD, MAINTAINER-free",
			lines: []string{"EXPOSE 80 53/udp 8000-8001", "VOLUME /data /logs", "USER app:app", "STOPSIGNAL SIGQUIT", "ONBUILD RUN make"},
			want: func(c *dockerspec.DockerOCIImageConfig) {
				c.ExposedPorts = map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
				c.Volumes = map[string]struct{}{"/data": {}, "/logs": {}}
				c.User = "app:app"
				c.StopSignal = "SIGQUIT"
				c.OnBuild = []string{"RUN make"}
			},
		},
		{
			name:  "HEALTHCHECK",
			lines: []string{"HEALTHCHECK --retries=2 CMD wget -q localhost"},
			want: func(c *dockerspec.DockerOCIImageConfig) {
				c.Healthcheck = &dockerspec.HealthcheckConfig{Test: []string{"CMD-SHELL", "wget -q localhost"}, Retries: 2}
			},
		},
	}
	lex := shell.NewLex('\\')
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Scope
			s.Image.Config = base
			s.Image.Config.Env = append([]string(nil), base.Env...)
			for _, line := range tt.lines {
				c := parseOne(t, line)
				if err := s.Expand(c, lex); err != nil {
					t.Fatal(err)
				}
				if a, ok := c.(*instructions.ArgCommand); ok {
					for _, kv := range a.Args {
						s.DeclareArg(kv, tt.args, nil)
					}
					continue
				}
				if _, ok := c.(*instructions.CmdCommand); ok {
					s.CmdSet = true
				}
				if ok, err := s.ApplyMeta(c); !ok || err != nil {
					t.Fatalf("ApplyMeta(%s) = %v, %v", line, ok, err)
				}
			}
			want := base
			want.Env = append([]string(nil), base.Env...)
			tt.want(&want)
			if diff := cmp.Diff(want, s.Image.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScopeRunEnvAndCommandLine(t *testing.T) {
	var s Scope
	s.Image.Config.Env = []string{"A=env"}
	s.Args = []string{"A=arg", "B=arg"}
	if diff := cmp.Diff([]string{"A=env", "B=arg"}, s.RunEnv()); diff != "" {
		t.Errorf("RunEnv (-want +got):\n%s", diff)
	}
	run := parseOne(t, "RUN echo $A && false").(*instructions.RunCommand)
	if diff := cmp.Diff([]string{"/bin/sh", "-c", "echo $A && false"}, s.CommandLine(run.ShellDependantCmdLine)); diff != "" {
		t.Errorf("shell form (-want +got):\n%s", diff)
	}
	run = parseOne(t, `RUN ["echo", "x"]`).(*instructions.RunCommand)
	if diff := cmp.Diff([]string{"echo", "x"}, s.CommandLine(run.ShellDependantCmdLine)); diff != "" {
		t.Errorf("exec form (-want +got):\n%s", diff)
	}
}

func TestExposedPortsRefusesBadPorts(t *testing.T) {
	for _, p := range []string{"0", "70000", "80/icmp", "90-80", "http"} {
		if _, err := exposedPorts([]string{p}); err == nil {
			t.Errorf("exposedPorts(%q) accepted it", p)
		}
	}
}

func TestStepKey(t *testing.T) {
	a := StepKey("sha256:prev", "RUN make", "A=1")
	for name, other := range map[string]any{
		"another parent":      StepKey("sha256:other", "RUN make", "A=1"),
		"another instruction": StepKey("sha256:prev", "RUN make all", "A=1"),
		"another input":       StepKey("sha256:prev", "RUN make", "A=2"),
		"inputs moved across": StepKey("sha256:prev", "RUN make A=1"),
	} {
		if other == a {
			t.Errorf("%s gives the same key", name)
		}
	}
	if StepKey("sha256:prev", "RUN make", "A=1") != a {
		t.Error("the same step gives another key")
	}
}
