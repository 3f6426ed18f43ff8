package apitls

import (
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want Addr
		open bool
		err  string
	}{
		{in: "127.0.0.1:9323", want: Addr{"tcp", "127.0.0.1:9323"}},
		{in: "tcp://[::1]:9323", want: Addr{"tcp", "[::1]:9323"}},
		{in: "localhost:9323", want: Addr{"tcp", "localhost:9323"}},
		{in: "unix:///run/shoal/metrics.sock", want: Addr{"unix", "/run/shoal/metrics.sock"}},
		{in: "tcp://0.0.0.0:8080", want: Addr{"tcp", "0.0.0.0:8080"}, open: true},
		{in: ":9323", want: Addr{"tcp", ":9323"}, open: true},
		{in: "10.0.0.5:9323", want: Addr{"tcp", "10.0.0.5:9323"}, open: true},
		{in: "unix://relative.sock", err: "--x \"unix://relative.sock\": a unix socket needs an absolute path"},
		{in: "http://127.0.0.1:9323", err: "want unix:///path, tcp://host:port or host:port"},
		{in: "127.0.0.1", err: "want unix:///path"},
		{in: "tcp://127.0.0.1:8080/ui", err: "want unix:///path"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddr("--x", tt.in)
			switch {
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("ParseAddr(%q) = %+v, %v; want an error containing %q", tt.in, got, err, tt.err)
			case tt.err == "" && (err != nil || got != tt.want || got.Open() != tt.open):
				t.Errorf("ParseAddr(%q) = %+v (open %v), %v; want %+v (open %v)", tt.in, got, got.Open(), err, tt.want, tt.open)
			}
		})
	}
}
