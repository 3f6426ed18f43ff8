package localcluster

import (
	"os/exec"
	"testing"
	"time"
)

func TestZombie(t *testing.T) {
	tests := []struct {
		stat string
		want bool
	}{
		{"1234 (shoal) S 1 1234 1234 0 -1", false},
		{"1234 (shoal) Z 1 1234 1234 0 -1", true},
		{"1234 (a) Z (b) R 1 1234", false},
		{"1234 (a) R (b) Z 1 1234", true},
		{"", false},
	}
	for _, tt := range tests {
		if got := zombie(tt.stat); got != tt.want {
			t.Errorf("zombie(%q) = %v, want %v", tt.stat, got, tt.want)
		}
	}
}

// TestExitedChildIsNotAlive: a daemon this process started and that exited
// is a zombie until reaped; Down must not wait out its grace on it.
func TestExitedChildIsNotAlive(t *testing.T) {
	cmd := exec.Command("sleep", "0.1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	if !alive(cmd.Process.Pid) {
		t.Fatal("a running child is not alive")
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exited, unreaped child still looks alive after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
