package logline

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const ctx = "com.docker.swarm.node.id=node1,com.docker.swarm.service.id=svc1,com.docker.swarm.task.id=task1"

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		timestamps bool
		want       Line
		wantErr    string
	}{
		{
			name: "plain",
			in:   ctx + " hello world\n",
			want: Line{Context: Context{NodeID: "node1", ServiceID: "svc1", TaskID: "task1"}, Details: map[string]string{}, Message: []byte("hello world\n")},
		},
		{
			name: "timestamp and extra detail", timestamps: true,
			in: "2026-03-01T12:00:00.000000001Z env%3Dprod=a%2Cb," + ctx + " hi\n",
			want: Line{
				Timestamp: "2026-03-01T12:00:00.000000001Z",
				Context:   Context{NodeID: "node1", ServiceID: "svc1", TaskID: "task1"},
				Details:   map[string]string{"env=prod": "a,b"},
				Message:   []byte("hi\n"),
			},
		},
		{name: "no message separator", in: ctx, wantErr: "invalid context in log message"},
		{name: "missing task", in: "com.docker.swarm.node.id=n,com.docker.swarm.service.id=s hi\n", wantErr: "missing com.docker.swarm.task.id"},
		{name: "bad pair", in: "nonsense hi\n", wantErr: `invalid log detail "nonsense"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in), tt.timestamps)
			if tt.wantErr != "" {
				if err == nil || !contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrefixAndFormat(t *testing.T) {
	task := Task{ServiceName: "web", Slot: 3, TaskID: "x0123456789abcdefghijklmn", NodeName: "alpha"}
	tests := []struct {
		name    string
		task    Task
		opts    PrefixOptions
		line    Line
		details bool
		want    string
	}{
		{"default", task, PrefixOptions{Padding: 1}, Line{Message: []byte("hi\n")}, false, "web.3.x0123456789a@alpha    | hi\n"},
		{"padded", task, PrefixOptions{Padding: 2}, Line{Message: []byte("hi\n")}, false, "web.3.x0123456789a@alpha     | hi\n"},
		{"no task ids", task, PrefixOptions{NoTaskIDs: true, Padding: 1}, Line{Message: []byte("hi\n")}, false, "web.3@alpha    | hi\n"},
		{"no trunc", task, PrefixOptions{NoTrunc: true, Padding: 1}, Line{Message: []byte("hi\n")}, false, "web.3.x0123456789abcdefghijklmn@alpha    | hi\n"},
		{"timestamp and details", task, PrefixOptions{Padding: 1},
			Line{Timestamp: "2026-03-01T12:00:00Z", Details: map[string]string{"b": "2", "a": "1"}, Message: []byte("hi\n")}, true,
			"2026-03-01T12:00:00Z web.3.x0123456789a@alpha    | a=1,b=2 hi\n"},
		{"details not asked for", task, PrefixOptions{Padding: 1}, Line{Details: map[string]string{"a": "1"}, Message: []byte("hi\n")}, false, "web.3.x0123456789a@alpha    | hi\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(Format(tt.line, Prefix(tt.task, tt.opts), tt.details))
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
