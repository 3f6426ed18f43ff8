package container

import (
	"testing"

	containertypes "github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/containerdexec/jsonlog"
)

func TestLogRotation(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]string
		want    jsonlog.Rotation
		wantErr string
	}{
		{"none", nil, jsonlog.Rotation{MaxFiles: 1}, ""},
		{"size and files", map[string]string{"max-size": "1k", "max-file": "3"}, jsonlog.Rotation{MaxSize: 1000, MaxFiles: 3}, ""},
		{"bad size", map[string]string{"max-size": "0"}, jsonlog.Rotation{}, "HostConfig.LogConfig.Config: max-size must be a positive number"},
		{"bad files", map[string]string{"max-file": "0"}, jsonlog.Rotation{}, "HostConfig.LogConfig.Config: max-file cannot be less than 1"},
		{"unknown", map[string]string{"max-age": "1d"}, jsonlog.Rotation{}, "HostConfig.LogConfig.Config: unknown log opt 'max-age' for json-file log driver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LogRotation(&containertypes.HostConfig{LogConfig: containertypes.LogConfig{Type: "json-file", Config: tt.config}})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("got error %v, want invalid %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
