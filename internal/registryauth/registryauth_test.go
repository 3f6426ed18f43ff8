package registryauth

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/registry"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/testutil/authregistry"
)

func TestDecode(t *testing.T) {
	full := registry.AuthConfig{Username: "u", Password: "p", ServerAddress: "127.0.0.1:5000"}
	tests := []struct {
		name    string
		in      string
		want    registry.AuthConfig
		wantErr string
	}{
		{name: "empty", in: "", want: registry.AuthConfig{}},
		{name: "padded", in: Encode(full), want: full},
		{name: "unpadded", in: strings.TrimRight(Encode(full), "="), want: full},
		{name: "identity token", in: Encode(registry.AuthConfig{IdentityToken: "tok"}), want: registry.AuthConfig{IdentityToken: "tok"}},
		{name: "not base64", in: "!!!", wantErr: "invalid X-Registry-Auth header: not base64url"},
		{name: "not json", in: base64.URLEncoding.EncodeToString([]byte("user:pass")), wantErr: "invalid X-Registry-Auth header: not an AuthConfig in JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("Decode(%q) = %v, want invalid %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	tests := []struct {
		name       string
		in         registry.AuthConfig
		user, pass string
	}{
		{name: "user and password", in: registry.AuthConfig{Username: "u", Password: "p"}, user: "u", pass: "p"},
		{name: "auth field", in: registry.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("u:p:q"))}, user: "u", pass: "p:q"},
		{name: "identity token wins", in: registry.AuthConfig{Username: "u", Password: "p", IdentityToken: "t"}, user: "", pass: "t"},
		{name: "none", in: registry.AuthConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p := Credentials(tt.in)
			if u != tt.user || p != tt.pass {
				t.Errorf("Credentials = %q, %q; want %q, %q", u, p, tt.user, tt.pass)
			}
		})
	}
}

func TestHost(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "127.0.0.1:5000", want: "127.0.0.1:5000"},
		{in: "https://registry.example.com/v2/", want: "registry.example.com"},
		{in: "https://index.docker.io/v1/", want: "registry-1.docker.io"},
		{in: "", want: "registry-1.docker.io"},
		{in: "http://", wantErr: "invalid registry server address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Host(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Host(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Host(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if got := FromContext(ctx); got != "" {
		t.Errorf("FromContext(empty) = %q", got)
	}
	enc := Encode(registry.AuthConfig{Username: "u", Password: "p"})
	got, err := FromContextDecoded(NewContext(ctx, enc))
	if err != nil || got.Username != "u" || got.Password != "p" {
		t.Errorf("FromContextDecoded = %+v, %v", got, err)
	}
}

func TestLogin(t *testing.T) {
	plain := func(string) (bool, error) { return true, nil }
	for _, scheme := range []struct {
		name string
		s    authregistry.Scheme
		bad  string // what a wrong password is told
		none string // and no credentials
	}{
		{"basic", authregistry.Basic, "failed with status: 401 Unauthorized: unauthorized: authentication required", "no basic auth credentials"},
		{"bearer", authregistry.Bearer, "unauthorized: incorrect username or password", "unauthorized: incorrect username or password"},
	} {
		t.Run(scheme.name, func(t *testing.T) {
			reg := authregistry.New(t, scheme.s, "alice", "s3cret")
			tests := []struct {
				name    string
				cfg     registry.AuthConfig
				wantErr string
			}{
				{name: "right password", cfg: registry.AuthConfig{Username: "alice", Password: "s3cret", ServerAddress: reg.Host}},
				{name: "wrong password", cfg: registry.AuthConfig{Username: "alice", Password: "nope", ServerAddress: reg.Host}, wantErr: scheme.bad},
				{name: "no credentials", cfg: registry.AuthConfig{ServerAddress: reg.Host}, wantErr: scheme.none},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					err := Login(t.Context(), tt.cfg, plain, http.DefaultClient)
					if tt.wantErr == "" {
						if err != nil {
							t.Fatalf("Login: %v", err)
						}
						return
					}
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.Is(err, errdefs.KindUnauthorized) {
						t.Fatalf("Login = %v, want unauthorized %q", err, tt.wantErr)
					}
				})
			}
		})
	}
}
