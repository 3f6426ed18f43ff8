package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	containertypes "github.com/moby/moby/api/types/container"
)

func TestParsePS(t *testing.T) {
	out := []byte(`UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        4242    4200  0 10:01 ?        00:00:00 sleep 3600
root        4243    4242  0 10:01 ?        00:00:00 sh -c echo a  b
`)
	tests := []struct {
		name string
		out  []byte
		pids []int
		want containertypes.TopResponse
		err  string
	}{
		{
			name: "the container's processes, the command with its spaces",
			out:  out, pids: []int{4242, 4243},
			want: containertypes.TopResponse{
				Titles: strings.Fields("UID PID PPID C STIME TTY TIME CMD"),
				Processes: [][]string{
					{"root", "4242", "4200", "0", "10:01", "?", "00:00:00", "sleep 3600"},
					{"root", "4243", "4242", "0", "10:01", "?", "00:00:00", "sh -c echo a b"},
				},
			},
		},
		{name: "none of them", out: out, pids: []int{7},
			want: containertypes.TopResponse{Titles: strings.Fields("UID PID PPID C STIME TTY TIME CMD"), Processes: [][]string{}}},
		{name: "no PID column", out: []byte("USER COMMAND\nroot sleep\n"), pids: []int{1}, err: "Couldn't find PID field in ps output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePS(tt.out, tt.pids)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("parsePS: %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("parsePS (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseUntil(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "1h", want: now.Add(-time.Hour)},
		{in: "2026-01-01T00:00:00Z", want: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{in: "1700000000", want: time.Unix(1700000000, 0)},
		{in: "yesterday", err: true},
	} {
		got, err := parseUntil(tt.in, now)
		if tt.err != (err != nil) || !got.Equal(tt.want) {
			t.Errorf("parseUntil(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestMergeResources(t *testing.T) {
	pids := int64(50)
	r := containertypes.Resources{Memory: 64 << 20, CPUQuota: 50000, CPUPeriod: 100000, CPUShares: 512}
	mergeResources(&r, containertypes.Resources{NanoCPUs: 1e9, PidsLimit: &pids})
	want := containertypes.Resources{Memory: 64 << 20, NanoCPUs: 1e9, CPUShares: 512, PidsLimit: &pids}
	if d := cmp.Diff(want, r); d != "" {
		t.Fatalf("an update of the CPU count and PIDs (-want +got):\n%s", d)
	}
}
