package faults

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var three = Topology{Managers: []string{"manager1", "manager2", "manager3"}, Workers: []string{"worker1"}}
var five = Topology{Managers: []string{"manager1", "manager2", "manager3", "manager4", "manager5"}, Workers: []string{"worker1"}}

func TestScheduleReplays(t *testing.T) {
	a := Schedule(42, DefaultScheduleConfig, three)
	b := Schedule(42, DefaultScheduleConfig, three)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("seed 42 gave two schedules:\n%v\n%v", a, b)
	}
	if c := Schedule(43, DefaultScheduleConfig, three); reflect.DeepEqual(a, c) {
		t.Fatalf("seeds 42 and 43 gave the same schedule %v", a)
	}
}

func TestScheduleBounds(t *testing.T) {
	for _, top := range []Topology{three, five} {
		for _, disk := range []bool{false, true} {
			cfg := DefaultScheduleConfig
			cfg.Disk = disk
			kinds := map[Kind]bool{}
			for seed := range uint64(200) {
				fs := Schedule(seed, cfg, top)
				if len(fs) == 0 {
					t.Fatalf("seed %d: no faults", seed)
				}
				end := time.Duration(0)
				for _, f := range fs {
					kinds[f.Kind] = true
					if f.At < end+time.Second && end > 0 || f.At < 2*time.Second {
						t.Errorf("seed %d: %v starts before a second of calm after the previous fault (healed at %v)", seed, f, end)
					}
					if f.For < cfg.MinFault && f.At+f.For != cfg.Duration || f.For > cfg.MaxFault {
						t.Errorf("seed %d: %v lasts outside [%v, %v]", seed, f, cfg.MinFault, cfg.MaxFault)
					}
					if end = f.At + f.For; end > cfg.Duration {
						t.Errorf("seed %d: %v heals after the workload ends at %v", seed, f, cfg.Duration)
					}
					if f.Leader == (len(f.Hosts) > 0) {
						t.Errorf("seed %d: %v names hosts and the leader, or neither", seed, f)
					}
					if f.Kind == PartitionMinority && len(f.Hosts) > (len(top.Managers)-1)/2 {
						t.Errorf("seed %d: %v cuts off a majority", seed, f)
					}
					if f.Kind == Pause && !f.Leader && !slices.Contains(top.Managers, f.Hosts[0]) {
						t.Errorf("seed %d: %v pauses a worker", seed, f)
					}
				}
			}
			if kinds[DiskFull] != disk {
				t.Errorf("disk %v: disk-full drawn: %v", disk, kinds[DiskFull])
			}
			if want := len(cfg.kinds()); len(kinds) != want {
				t.Errorf("200 seeds drew %d kinds of fault, want all %d: %v", len(kinds), want, kinds)
			}
		}
	}
}

func TestCuts(t *testing.T) {
	tests := []struct {
		name   string
		top    Topology
		f      Fault
		leader string
		want   []Link
	}{
		{"minority of three", three, Fault{Kind: PartitionMinority, Hosts: []string{"manager2"}}, "", []Link{
			{"manager2", "manager1"}, {"manager1", "manager2"}, {"manager2", "manager3"}, {"manager3", "manager2"},
			{"manager2", "worker1"}, {"worker1", "manager2"},
		}},
		{"the leader alone", three, Fault{Kind: PartitionLeader, Leader: true}, "manager3", []Link{
			{"manager3", "manager1"}, {"manager1", "manager3"}, {"manager3", "manager2"}, {"manager2", "manager3"},
			{"manager3", "worker1"}, {"worker1", "manager3"},
		}},
		{"a line of three: the ends cannot talk", three, Fault{Kind: PartitionRing, Hosts: []string{"manager2", "manager3", "manager1"}}, "", []Link{
			{"manager2", "manager1"}, {"manager1", "manager2"},
		}},
		{"a ring of five: each sees its two neighbours", five, Fault{Kind: PartitionRing, Hosts: []string{"manager1", "manager2", "manager3", "manager4", "manager5"}}, "", []Link{
			{"manager1", "manager3"}, {"manager3", "manager1"}, {"manager1", "manager4"}, {"manager4", "manager1"},
			{"manager2", "manager4"}, {"manager4", "manager2"}, {"manager2", "manager5"}, {"manager5", "manager2"},
			{"manager3", "manager5"}, {"manager5", "manager3"},
		}},
		{"one way from the leader", three, Fault{Kind: PartitionOneWay, Leader: true}, "manager1", []Link{
			{"manager1", "manager2"}, {"manager1", "manager3"}, {"manager1", "worker1"},
		}},
		{"not a partition", three, Fault{Kind: Kill, Hosts: []string{"manager1"}}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cuts(tt.f, tt.top, tt.leader); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNftScript(t *testing.T) {
	addrs := map[string]netip.Addr{
		"manager1": netip.MustParseAddr("10.0.0.2"), "manager2": netip.MustParseAddr("10.0.0.3"),
		"manager3": netip.MustParseAddr("10.0.0.4"), "worker1": netip.MustParseAddr("10.0.0.5"),
	}
	cuts := Cuts(Fault{Kind: PartitionOneWay, Hosts: []string{"manager1"}}, three, "")
	got := nftScript("manager1", cuts, addrs)
	want := `add table inet shoalfaults
delete table inet shoalfaults
table inet shoalfaults {
	chain in {
		type filter hook input priority -400; policy accept;
	}
	chain out {
		type filter hook output priority -400; policy accept;
		ip daddr { 10.0.0.3, 10.0.0.4, 10.0.0.5 } drop
	}
}
`
	if got != want {
		t.Errorf("the sender's rules:\n%s\nwant\n%s", got, want)
	}
	if got := nftScript("manager2", cuts, addrs); !strings.Contains(got, "ip saddr { 10.0.0.2 } drop") || strings.Contains(got, "daddr {") {
		t.Errorf("a receiver's rules:\n%s\nwant only manager1 dropped on the way in", got)
	}
	if got := nftScript("manager2", Cuts(Fault{Kind: PartitionRing, Hosts: []string{"manager1", "manager2", "manager3"}}, three, ""), addrs); got != "" {
		t.Errorf("the middle of a line has no cut link, got rules:\n%s", got)
	}
}

// Clock jumps come only when asked for, so that the schedules of the
// seeds CI runs stay as they were; when asked for, each has a jump.
func TestScheduleClockJumps(t *testing.T) {
	top := Topology{Managers: []string{"manager1", "manager2", "manager3"}, Workers: []string{"worker1"}}
	jumps := 0
	for seed := range uint64(50) {
		for _, f := range Schedule(seed, DefaultScheduleConfig, top) {
			if f.Kind == ClockJump {
				t.Fatalf("seed %d: a clock jump without Clock: %v", seed, f)
			}
		}
		c := DefaultScheduleConfig
		c.Clock = true
		for _, f := range Schedule(seed, c, top) {
			if f.Kind != ClockJump {
				continue
			}
			jumps++
			if f.Offset == 0 || (!f.Leader && len(f.Hosts) != 1) {
				t.Fatalf("seed %d: %v: want one target and a non-zero jump", seed, f)
			}
		}
	}
	if jumps == 0 {
		t.Fatal("50 schedules with Clock drew no clock jump")
	}
}
