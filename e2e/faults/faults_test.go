package faults

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

var (
	flagN        = flag.Int("faults.n", envInt("N", 0), "run this many schedules (seeds faults.seed, faults.seed+1, ...) instead of the CI ones; env N")
	flagSeed     = flag.Uint64("faults.seed", uint64(envInt("SEED", 1)), "first seed of a -faults.n run, or the one seed to replay with -faults.n=1; env SEED")
	flagManagers = flag.Int("faults.managers", envInt("MANAGERS", 3), "managers of each cluster (3 or 5); env MANAGERS")
	flagDisk     = flag.Bool("faults.disk", os.Getenv("DISK") == "1", "also fill a manager's disk; env DISK=1")
	flagClock    = flag.Bool("faults.clock", os.Getenv("CLOCK") == "1", "also jump hosts' wall clocks; env CLOCK=1")
	flagOut      = flag.String("faults.out", os.Getenv("FAULTS_OUT"), "directory for the HTML history of a run with anomalies; env FAULTS_OUT")
	flagDebug    = flag.Bool("faults.debug", os.Getenv("FAULTS_DEBUG") == "1", "run the daemons with --log-level=debug, for the logs a run with anomalies keeps; env FAULTS_DEBUG=1")
	flagRecord   = flag.String("faults.record", os.Getenv("FAULTS_RECORD"), "append a line per schedule run to this file (bench/faults.sh adds them up); env FAULTS_RECORD")
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// shoalBin is the binary the hosts run, built once by TestMain.
var shoalBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() || os.Getuid() != 0 {
		return m.Run()
	}
	if shoalBin = os.Getenv("SHOAL_BIN"); shoalBin != "" {
		return m.Run() // built already, by bench/faults.sh
	}
	dir, err := os.MkdirTemp("", "faults-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shoalBin = filepath.Join(dir, "shoal")
	build := exec.Command("go", "build", "-tags", "shoaltesthooks", "-o", shoalBin, "../../cmd/shoal")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: build shoal:", err)
		return 1
	}
	return m.Run()
}

// ciSeeds are the schedules CI runs, three short ones (about 30 s each)
// that together hold every kind of fault but a full disk: seed 1 a
// minority cut off, a containerd restart, a line of managers and a paused
// leader; seed 17 a one-way partition from the leader, the leader and a
// worker killed, a containerd restart and a paused manager; seed 23 a
// line, a one-way partition, a cut-off leader and a killed manager.
var ciSeeds = []uint64{1, 17, 23}

// TestFaults runs fault schedules on local clusters of real daemons and
// checks what clients saw through the API for linearizability, and the
// healed cluster for lost writes, duplicate tasks and convergence.
// -faults.n=100 (or N=100) runs a hundred schedules; -faults.seed
// replays one.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts local clusters; not with -short")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root: network namespaces, nftables, containers")
	}
	seeds := ciSeeds
	if *flagN > 0 {
		seeds = nil
		for i := range *flagN {
			seeds = append(seeds, *flagSeed+uint64(i))
		}
	}
	out := *flagOut
	if out == "" {
		out = t.TempDir()
	}
	var sum summary
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			sched := DefaultScheduleConfig
			sched.Disk = *flagDisk
			sched.Clock = *flagClock
			var daemonArgs []string
			if *flagDebug {
				daemonArgs = []string{"--log-level=debug"}
			}
			start := time.Now()
			res, err := Run(t.Context(), Config{
				Seed: seed, Managers: *flagManagers, Workers: 1, Schedule: sched,
				Binary: shoalBin, DaemonArgs: daemonArgs, Artifacts: out, Log: testLog{t},
			})
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			sum.add(res)
			if *flagRecord != "" {
				if err := record(*flagRecord, res); err != nil {
					t.Error(err)
				}
			}
			t.Logf("seed %d: %d calls (writes %v), %d faults, linearizable %s (strict reads %s), converged in %.1fs, managers caught up %.1fs later, %d writes answered 5xx applied, %.0fs in all",
				seed, res.Ops, res.Outcomes, len(res.Faults), res.Linearizable, res.Strict, res.Converge.Seconds(), res.CatchUp.Seconds(), res.Applied5xx, time.Since(start).Seconds())
			for i, r := range res.StaleReads {
				if i == 5 {
					t.Logf("... %d stale reads in all", len(res.StaleReads))
					break
				}
				t.Logf("stale read: %s", r)
			}
			if res.History != "" {
				t.Logf("history: %s", res.History)
			}
			for _, a := range res.Anomalies {
				t.Errorf("seed %d: %s", seed, a)
			}
		})
	}
	t.Log(sum)
}

// summary adds up runs, for docs/RELIABILITY.md.
type summary struct {
	runs, faults, ops, anomalous, stale, applied5xx int
	converge                                        []time.Duration
}

func (s *summary) add(r Result) {
	s.runs++
	s.faults += len(r.Faults)
	s.ops += r.Ops
	s.applied5xx += r.Applied5xx
	if len(r.Anomalies) > 0 {
		s.anomalous++
	}
	if r.Strict != porcupine.Ok {
		s.stale++
	}
	if r.Converge >= 0 {
		s.converge = append(s.converge, r.Converge)
	}
}

func (s summary) String() string {
	var worst, total time.Duration
	for _, c := range s.converge {
		worst = max(worst, c)
		total += c
	}
	mean := time.Duration(0)
	if len(s.converge) > 0 {
		mean = total / time.Duration(len(s.converge))
	}
	return fmt.Sprintf("summary: %d schedules, %d faults, %d calls; %d schedules with anomalies; %d with stale reads during faults; %d writes answered 5xx applied; converged in %d, mean %.1fs, worst %.1fs",
		s.runs, s.faults, s.ops, s.anomalous, s.stale, s.applied5xx, len(s.converge), mean.Seconds(), worst.Seconds())
}

// testLog writes a run's progress to the test log, line by line.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// record appends one line about a run to path.
func record(path string, r Result) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	kinds := make([]string, len(r.Faults))
	for i, f := range r.Faults {
		kinds[i] = string(f.Kind)
	}
	_, err = fmt.Fprintf(f, "seed=%d faults=%d calls=%d writes_ok=%d writes_refused=%d writes_unknown=%d anomalies=%d stale_reads=%d applied_5xx=%d linearizable=%s strict=%s converge_s=%.2f catchup_s=%.2f kinds=%s\n",
		r.Seed, len(r.Faults), r.Ops, r.Outcomes[OK], r.Outcomes[Exists]+r.Outcomes[Stale]+r.Outcomes[NotFound]+r.Outcomes[Refused], r.Outcomes[Unknown],
		len(r.Anomalies), len(r.StaleReads), r.Applied5xx, r.Linearizable, r.Strict, r.Converge.Seconds(), r.CatchUp.Seconds(), strings.Join(kinds, ","))
	return err
}
