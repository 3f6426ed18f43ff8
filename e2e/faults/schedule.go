package faults

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Kind is a kind of fault the nemesis injects.
type Kind string

const (
	// PartitionMinority cuts a minority of the managers off from every
	// other host.
	PartitionMinority Kind = "partition-minority"
	// PartitionLeader cuts the manager that leads off from every other host.
	PartitionLeader Kind = "partition-leader"
	// PartitionRing leaves each manager linked to its neighbours only: on
	// five, a ring in which each sees a majority but no two the same one;
	// on three, a line whose middle manager alone sees both others.
	PartitionRing Kind = "partition-ring"
	// PartitionOneWay drops what one manager (the leader when Leader is
	// set) sends to every other host, while it still hears them.
	PartitionOneWay Kind = "partition-oneway"
	// Kill sends SIGKILL to a host's daemon and starts it again when the
	// fault heals.
	Kill Kind = "kill"
	// Pause stops a manager's daemon with SIGSTOP and resumes it with
	// SIGCONT when the fault heals.
	Pause Kind = "pause"
	// ContainerdRestart kills a host's containerd; its daemon starts it
	// again.
	ContainerdRestart Kind = "containerd-restart"
	// DiskFull fills the small tmpfs that holds a manager's data root,
	// and frees it when the fault heals.
	DiskFull Kind = "disk-full"
	// ClockJump moves a host's wall clock (internal/clock, through the
	// daemon's test hook) by Offset, and back when the fault heals.
	ClockJump Kind = "clock-jump"
)

// clockJumps are the offsets a ClockJump draws from: seconds to minutes,
// both ways, all within the hour certificates are backdated by.
var clockJumps = []time.Duration{-10 * time.Minute, -2 * time.Minute, -30 * time.Second, -5 * time.Second,
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

// Fault is one fault of a schedule: what, on which hosts, from when, for
// how long.
type Fault struct {
	At, For time.Duration // since the workload began
	Kind    Kind
	// Leader says the target is the manager that leads when the fault
	// starts, found then; otherwise Hosts name the targets.
	Leader bool
	// Hosts are the target hosts: the cut-off group of a partition, the
	// managers of a ring in ring order, the sender of a one-way
	// partition, or the one host of any other fault.
	Hosts []string
	// Offset is a ClockJump's jump.
	Offset time.Duration
}

func (f Fault) String() string {
	who := strings.Join(f.Hosts, ",")
	if f.Leader {
		who = "leader"
	}
	if f.Kind == ClockJump {
		who += fmt.Sprintf(" by %v", f.Offset)
	}
	return fmt.Sprintf("at %5.1fs for %4.1fs %-18s %s", f.At.Seconds(), f.For.Seconds(), f.Kind, who)
}

// Topology names the hosts of the cluster under test.
type Topology struct {
	Managers []string // in order; the last one's data root is a tmpfs when disk faults are on
	Workers  []string
}

// Hosts returns every host, managers first.
func (t Topology) Hosts() []string { return append(slices.Clone(t.Managers), t.Workers...) }

// ScheduleConfig bounds a schedule.
type ScheduleConfig struct {
	Duration time.Duration // of the workload; every fault heals before it ends
	MinFault time.Duration // shortest fault
	MaxFault time.Duration // longest fault
	MaxGap   time.Duration // longest calm between two faults (the shortest is a second)
	Disk     bool          // include DiskFull
	Clock    bool          // include ClockJump
}

// DefaultScheduleConfig is what CI runs: faults of 2–6 s over 24 s.
var DefaultScheduleConfig = ScheduleConfig{Duration: 24 * time.Second, MinFault: 2 * time.Second, MaxFault: 6 * time.Second, MaxGap: 3 * time.Second}

// kinds returns the fault kinds a schedule draws from, in a fixed order.
func (c ScheduleConfig) kinds() []Kind {
	k := []Kind{PartitionMinority, PartitionLeader, PartitionRing, PartitionOneWay, Kill, Pause, ContainerdRestart}
	if c.Disk {
		k = append(k, DiskFull)
	}
	if c.Clock {
		k = append(k, ClockJump)
	}
	return k
}

// Schedule draws the faults of one run from seed: one at a time, each
// healed before the next begins, the first after two calm seconds. The
// same seed, config and topology give the same schedule.
func Schedule(seed uint64, c ScheduleConfig, top Topology) []Fault {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed_fa17))
	kinds := c.kinds()
	const step = 100 * time.Millisecond
	between := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(r.Int64N(int64((hi-lo)/step)+1))*step
	}
	var out []Fault
	at := 2 * time.Second
	for at+c.MinFault <= c.Duration {
		f := Fault{At: at, For: min(between(c.MinFault, c.MaxFault), c.Duration-at), Kind: kinds[r.IntN(len(kinds))]}
		switch f.Kind {
		case PartitionMinority:
			n := r.IntN((len(top.Managers)-1)/2) + 1
			f.Hosts = pick(r, top.Managers, n)
		case PartitionLeader:
			f.Leader = true
		case PartitionRing:
			f.Hosts = pick(r, top.Managers, len(top.Managers))
		case PartitionOneWay, Pause:
			if f.Leader = r.IntN(2) == 0; !f.Leader {
				f.Hosts = pick(r, top.Managers, 1)
			}
		case Kill:
			if f.Leader = r.IntN(3) == 0; !f.Leader {
				f.Hosts = pick(r, top.Hosts(), 1)
			}
		case ContainerdRestart:
			f.Hosts = pick(r, top.Hosts(), 1)
		case DiskFull:
			f.Hosts = []string{top.Managers[len(top.Managers)-1]}
		case ClockJump:
			if f.Leader = r.IntN(2) == 0; !f.Leader {
				f.Hosts = pick(r, top.Hosts(), 1)
			}
			f.Offset = clockJumps[r.IntN(len(clockJumps))]
		}
		out = append(out, f)
		at += f.For + between(time.Second, c.MaxGap)
	}
	return out
}

// pick returns n of names drawn without repeats, in the drawn order.
func pick(r *rand.Rand, names []string, n int) []string {
	p := r.Perm(len(names))[:n]
	out := make([]string, n)
	for i, j := range p {
		out[i] = names[j]
	}
	return out
}

// Link is one direction between two hosts.
type Link struct{ From, To string }

// Cuts returns the links a partition fault drops, given the hosts and
// the leader when it starts; nil for faults that are not partitions.
// Workers keep their links to every manager in a ring.
func Cuts(f Fault, top Topology, leader string) []Link {
	targets := f.Hosts
	if f.Leader {
		targets = []string{leader}
	}
	var cuts []Link
	both := func(a, b string) { cuts = append(cuts, Link{a, b}, Link{b, a}) }
	switch f.Kind {
	case PartitionMinority, PartitionLeader:
		for _, a := range targets {
			for _, b := range top.Hosts() {
				if !slices.Contains(targets, b) {
					both(a, b)
				}
			}
		}
	case PartitionRing:
		n := len(targets)
		for i := range n {
			for j := i + 1; j < n; j++ {
				adjacent := j == i+1 || (n > 3 && i == 0 && j == n-1)
				if !adjacent {
					both(targets[i], targets[j])
				}
			}
		}
	case PartitionOneWay:
		for _, b := range top.Hosts() {
			if b != targets[0] {
				cuts = append(cuts, Link{targets[0], b})
			}
		}
	}
	return cuts
}
