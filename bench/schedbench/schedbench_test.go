package schedbench

import (
	"fmt"
	"testing"
)

func TestRunPlacesEveryTask(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"controllers only", Config{Nodes: 20, Tasks: 500, Services: 3}},
		{"with agents", Config{Nodes: 5, Tasks: 40, Services: 2, Agents: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Dir = t.TempDir()
			res, err := Run(t.Context(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Tasks != tt.cfg.Tasks || res.Assigned <= 0 || res.Entries == 0 {
				t.Errorf("got %+v, want %d tasks assigned through raft", res, tt.cfg.Tasks)
			}
			if tt.cfg.Agents && res.Running < res.Assigned {
				t.Errorf("got running after %v, before assigned after %v", res.Running, res.Assigned)
			}
		})
	}
}

// BenchmarkScheduler is cmd/shoal-bench scheduler as a benchmark, for
// go test's profiles:
//
//	go test -run X -bench 'Scheduler/nodes=1000/tasks=100000/agents=false' -benchtime 1x -cpuprofile cpu.out ./bench/schedbench
func BenchmarkScheduler(b *testing.B) {
	for _, c := range []Config{
		{Nodes: 1000, Tasks: 10000, Services: 10},
		{Nodes: 1000, Tasks: 100000, Services: 100},
		{Nodes: 1000, Tasks: 10000, Services: 100, Agents: true},
	} {
		b.Run(fmt.Sprintf("nodes=%d/tasks=%d/agents=%v", c.Nodes, c.Tasks, c.Agents), func(b *testing.B) {
			var assigned, running, cpu float64
			for b.Loop() {
				c.Dir = b.TempDir()
				res, err := Run(b.Context(), c)
				if err != nil {
					b.Fatal(err)
				}
				assigned += res.Assigned.Seconds()
				running += res.Running.Seconds()
				cpu += res.CPU.Seconds()
			}
			b.ReportMetric(float64(c.Tasks*b.N)/assigned, "assigned/s")
			b.ReportMetric(float64(c.Tasks*b.N)/cpu, "tasks/cpu-s")
			if c.Agents {
				b.ReportMetric(float64(c.Tasks*b.N)/running, "running/s")
			}
		})
	}
}
