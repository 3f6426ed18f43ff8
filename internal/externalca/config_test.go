package externalca

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestValidate(t *testing.T) {
	root := newRoot(t)
	const url = "https://ca.example/api/v1/cfssl/sign"
	tests := []struct {
		name    string
		cas     []*swarm.ExternalCA
		wantErr string // field named in the message; "" for valid
	}{
		{name: "none", cas: nil},
		{name: "cfssl https", cas: []*swarm.ExternalCA{{Protocol: "cfssl", URL: url}}},
		{name: "cfssl http, upper case", cas: []*swarm.ExternalCA{{Protocol: "CFSSL", URL: "http://10.0.0.1:8888/sign"}}},
		{name: "with CACert and profile", cas: []*swarm.ExternalCA{{Protocol: "cfssl", URL: url, CACert: string(root.certPEM), Options: map[string]string{"profile": "node"}}}},
		{name: "nil entry", cas: []*swarm.ExternalCA{nil}, wantErr: "CAConfig.ExternalCAs[0]"},
		{name: "other protocol", cas: []*swarm.ExternalCA{{Protocol: "acme", URL: url}}, wantErr: "CAConfig.ExternalCAs[0].Protocol"},
		{name: "no protocol", cas: []*swarm.ExternalCA{{URL: url}}, wantErr: "CAConfig.ExternalCAs[0].Protocol"},
		{
			name:    "second entry bad",
			cas:     []*swarm.ExternalCA{{Protocol: "cfssl", URL: url}, {Protocol: "cfssl", URL: "ftp://ca.example/sign"}},
			wantErr: "CAConfig.ExternalCAs[1].URL",
		},
		{name: "no URL", cas: []*swarm.ExternalCA{{Protocol: "cfssl"}}, wantErr: "CAConfig.ExternalCAs[0].URL"},
		{name: "no host", cas: []*swarm.ExternalCA{{Protocol: "cfssl", URL: "https:///sign"}}, wantErr: "CAConfig.ExternalCAs[0].URL"},
		{name: "relative URL", cas: []*swarm.ExternalCA{{Protocol: "cfssl", URL: "ca.example/sign"}}, wantErr: "CAConfig.ExternalCAs[0].URL"},
		{name: "unparsable URL", cas: []*swarm.ExternalCA{{Protocol: "cfssl", URL: "https://ca example/%zz"}}, wantErr: "CAConfig.ExternalCAs[0].URL"},
		{name: "CACert not PEM", cas: []*swarm.ExternalCA{{Protocol: "cfssl", URL: url, CACert: "hello"}}, wantErr: "CAConfig.ExternalCAs[0].CACert"},
		{
			name:    "CACert a key",
			cas:     []*swarm.ExternalCA{{Protocol: "cfssl", URL: url, CACert: "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"}},
			wantErr: "CAConfig.ExternalCAs[0].CACert",
		},
		{name: "unknown option", cas: []*swarm.ExternalCA{{Protocol: "cfssl", URL: url, Options: map[string]string{"label": "x"}}}, wantErr: "CAConfig.ExternalCAs[0].Options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.cas)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want Invalid naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	root := newRoot(t)
	good := []*swarm.ExternalCA{{Protocol: "cfssl", URL: "https://ca.example/sign"}}
	tests := []struct {
		name    string
		cas     []*swarm.ExternalCA
		trust   bool
		wantErr string
	}{
		{name: "no external CA", cas: nil, trust: true, wantErr: "CAConfig.ExternalCAs"},
		{name: "invalid entry", cas: []*swarm.ExternalCA{{Protocol: "acme", URL: "https://ca.example/sign"}}, trust: true, wantErr: "CAConfig.ExternalCAs[0].Protocol"},
		{name: "no trusted root", cas: good, trust: false, wantErr: "root CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trust := root.pool()
			if !tt.trust {
				trust = nil
			}
			_, err := New(tt.cas, trust, nil, slog.New(slog.DiscardHandler))
			if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want Invalid mentioning %q", err, tt.wantErr)
			}
		})
	}
}
