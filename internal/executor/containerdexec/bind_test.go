package containerdexec

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/mount"
)

func TestCheckBindSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "docker.sock")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	create := &mount.BindOptions{CreateMountpoint: true}
	tests := []struct {
		name    string
		m       mount.Mount
		wantErr bool
		wantDir bool // the source is a directory afterwards
	}{
		{name: "existing file with create-mountpoint is bound as it is", m: mount.Mount{Source: file, BindOptions: create}},
		{name: "existing file", m: mount.Mount{Source: file}},
		{name: "missing directory with create-mountpoint is made", m: mount.Mount{Source: filepath.Join(dir, "a", "b"), BindOptions: create}, wantDir: true},
		{name: "missing without create-mountpoint", m: mount.Mount{Source: filepath.Join(dir, "c")}, wantErr: true},
		{name: "below a file cannot be made", m: mount.Mount{Source: filepath.Join(file, "d"), BindOptions: create}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Type, tt.m.Target = mount.TypeBind, "/x"
			err := checkBindSources([]mount.Mount{tt.m})
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			fi, err := os.Stat(tt.m.Source)
			if err != nil {
				t.Fatal(err)
			}
			if fi.IsDir() != tt.wantDir {
				t.Errorf("source is a directory: %v, want %v", fi.IsDir(), tt.wantDir)
			}
		})
	}
}
