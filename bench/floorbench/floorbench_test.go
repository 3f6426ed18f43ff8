package floorbench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"none", nil, 0},
		{"one", []time.Duration{3}, 3},
		{"odd count, unsorted", []time.Duration{5, 1, 3}, 3},
		{"even count takes the lower middle", []time.Duration{4, 1, 3, 2}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Median(tt.in); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRunStartsAndRemovesEveryContainer needs root and containerd, and
// starts a containerd: run it under flock /tmp/shoal-e2e.lock.
func TestRunStartsAndRemovesEveryContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("needs containerd")
	}
	state, err := os.MkdirTemp("/run", "floorbench-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	root := t.TempDir()
	cfg := Config{Containers: 3, Runs: 2, Rootfs: testimage.RootfsTar(t), Root: root, State: state}

	var seen []int
	results, err := Run(t.Context(), cfg, func(i int, _ Result) { seen = append(seen, i) })
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || len(seen) != 2 {
		t.Fatalf("got %d results and %d calls, want 2 of each", len(results), len(seen))
	}
	for i, r := range results {
		if r.Wall <= 0 || r.Create <= 0 || r.Task <= 0 || r.Start <= 0 || r.Wall < r.Task {
			t.Errorf("run %d: got %+v, want every phase measured and the wall time at least a task's", i, r)
		}
	}
	// Every container was deleted with its snapshot: nothing of it is
	// still mounted.
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{state, root} {
		if strings.Contains(string(mounts), " "+filepath.Clean(dir)+"/") {
			t.Errorf("got mounts under %s after Run, want none", dir)
		}
	}
}
