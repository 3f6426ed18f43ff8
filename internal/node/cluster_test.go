package node

import (
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/limits"
)

// TestInitSpecLimits: swarm init refuses the numbers and labels swarm
// update refuses.
func TestInitSpecLimits(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*swarm.Spec)
		msg    string // "": accepted
	}{
		{"defaults", func(*swarm.Spec) {}, ""},
		{"max-replicas label", func(s *swarm.Spec) { s.Labels = map[string]string{limits.MaxReplicasLabel: "50"} }, ""},
		{"malformed max-replicas label", func(s *swarm.Spec) { s.Labels = map[string]string{limits.MaxReplicasLabel: "lots"} },
			`Labels["com.shoal.limits.max-replicas"]: "lots" must be a whole number`},
		{"task history past the limit", func(s *swarm.Spec) {
			h := int64(limits.MaxTaskHistory + 1)
			s.Orchestration.TaskHistoryRetentionLimit = &h
		},
			"Orchestration.TaskHistoryRetentionLimit: 1001 is more than the limit of 1000"},
		{"heartbeat past the limit", func(s *swarm.Spec) { s.Dispatcher.HeartbeatPeriod = limits.MaxDuration + time.Second },
			"Dispatcher.HeartbeatPeriod: 8760h0m1s is out of range"},
		{"labels past the limit", func(s *swarm.Spec) {
			s.Labels = map[string]string{"k": strings.Repeat("v", limits.MaxLabelValueSize+1)}
		}, `Labels["k"]: a value of 65537 bytes`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var spec swarm.Spec
			tt.change(&spec)
			_, err := initSpec(spec)
			switch {
			case tt.msg == "" && err != nil:
				t.Fatalf("got %v, want the spec accepted", err)
			case tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)):
				t.Fatalf("got %v, want an error containing %q", err, tt.msg)
			}
		})
	}
}
