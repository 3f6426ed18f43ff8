package images

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/errdefs"
)

const testDigest = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "busybox", want: "docker.io/library/busybox:latest"},
		{in: "busybox:1.36", want: "docker.io/library/busybox:1.36"},
		{in: "me/app", want: "docker.io/me/app:latest"},
		{in: "127.0.0.1:5000/x:v1", want: "127.0.0.1:5000/x:v1"},
		{in: "busybox@" + testDigest, want: "docker.io/library/busybox@" + testDigest},
		{in: "busybox:1.36@" + testDigest, want: "docker.io/library/busybox@" + testDigest},
		{in: "Busybox", wantErr: true},
		{in: "", wantErr: true},
		{in: "6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := normalize(tt.in)
			if tt.wantErr {
				if !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("normalize(%q): got %v, want an invalid error", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDisplayNames(t *testing.T) {
	tests := []struct {
		stored     string
		familiar   string
		repoDigest string
		tagged     bool
	}{
		{"docker.io/library/busybox:latest", "busybox:latest", "busybox@" + testDigest, true},
		{"127.0.0.1:5000/x:v1", "127.0.0.1:5000/x:v1", "127.0.0.1:5000/x@" + testDigest, true},
		{"docker.io/me/app@" + testDigest, "me/app@" + testDigest, "me/app@" + testDigest, false},
		{danglingPrefix + testDigest, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.stored, func(t *testing.T) {
			fam, _ := familiar(tt.stored)
			rd, _ := repoDigest(tt.stored, testDigest)
			if fam != tt.familiar || rd != tt.repoDigest || isTagged(tt.stored) != tt.tagged {
				t.Errorf("got familiar %q, repo digest %q, tagged %v; want %q, %q, %v",
					fam, rd, isTagged(tt.stored), tt.familiar, tt.repoDigest, tt.tagged)
			}
		})
	}
}

func TestIDPrefix(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"sha256:abc123", "abc123", true},
		{"abc123", "abc123", true},
		{"busybox", "", false},
		{"sha256:", "", false},
		{"ABC", "", false},
	}
	for _, tt := range tests {
		got, ok := idPrefix(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("idPrefix(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestApplyChanges(t *testing.T) {
	tests := []struct {
		name    string
		changes []string
		want    dockerspec.DockerOCIImageConfig
		wantErr bool
	}{
		{
			name:    "exec form",
			changes: []string{`CMD ["sleep", "1"]`, `ENTRYPOINT ["/bin/busybox"]`},
			want: cfgOf(func(c *ocispec.ImageConfig) {
				c.Cmd = []string{"sleep", "1"}
				c.Entrypoint = []string{"/bin/busybox"}
			}),
		},
		{
			name:    "shell form",
			changes: []string{"cmd echo hi there"},
			want:    cfgOf(func(c *ocispec.ImageConfig) { c.Cmd = []string{"/bin/sh", "-c", "echo hi there"} }),
		},
		{
			name:    "env pairs, legacy form and override",
			changes: []string{`ENV A=1 B="two words"`, "ENV C three words", "ENV A=3"},
			want: cfgOf(func(c *ocispec.ImageConfig) {
				c.Env = []string{"B=two words", "C=three words", "A=3"}
			}),
		},
		{
			name:    "labels, ports, volumes and the rest",
			changes: []string{`LABEL a=b "c d"=e`, "EXPOSE 80 53/udp", "VOLUME /data", "WORKDIR /w", "USER nobody", "STOPSIGNAL SIGINT"},
			want: cfgOf(func(c *ocispec.ImageConfig) {
				c.Labels = map[string]string{"a": "b", "c d": "e"}
				c.ExposedPorts = map[string]struct{}{"80/tcp": {}, "53/udp": {}}
				c.Volumes = map[string]struct{}{"/data": {}}
				c.WorkingDir = "/w"
				c.User = "nobody"
				c.StopSignal = "SIGINT"
			}),
		},
		{name: "unknown instruction", changes: []string{"FROM scratch"}, wantErr: true},
		{name: "bad json", changes: []string{`CMD ["sh"`}, wantErr: true},
		{name: "open quote", changes: []string{`ENV A="b`}, wantErr: true},
		{name: "no argument", changes: []string{"USER"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got dockerspec.DockerOCIImageConfig
			err := applyChanges(&got, tt.changes)
			if tt.wantErr {
				if !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("got %v, want an invalid error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func cfgOf(f func(*ocispec.ImageConfig)) dockerspec.DockerOCIImageConfig {
	var c dockerspec.DockerOCIImageConfig
	f(&c.ImageConfig)
	return c
}

func TestIndexPlatforms(t *testing.T) {
	amd := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{
		{Platform: &amd},
		{Platform: &arm},
		{Platform: &ocispec.Platform{OS: "unknown", Architecture: "unknown"}, Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}},
		{},
	}}
	if diff := cmp.Diff([]ocispec.Platform{amd, arm}, indexPlatforms(idx)); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
}
