package containerdexec

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"

	"github.com/shoal-project/shoal/internal/volume"
)

// eventLog records events as the bus would get them.
type eventLog struct {
	mu  sync.Mutex
	all []events.Message
}

func (l *eventLog) Log(action events.Action, typ events.Type, actor events.Actor) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, events.Message{Type: typ, Action: action, Actor: actor})
}

// of returns the actions of type typ logged so far.
func (l *eventLog) of(typ events.Type) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.all {
		if m.Type == typ {
			out = append(out, string(m.Action))
		}
	}
	return out
}

func (l *eventLog) find(typ events.Type, action events.Action) (events.Message, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.all {
		if m.Type == typ && m.Action == action {
			return m, true
		}
	}
	return events.Message{}, false
}

// TestContainerEvents: a task container's life comes out as dockerd's
// events, with its labels, image and name, the exit code on die, and its
// volume's create, mount, unmount and destroy.
func TestContainerEvents(t *testing.T) {
	e := newExecutor(t, "")
	log := &eventLog{}
	e.cfg.Events = log
	// The volume store says when it creates and destroys a volume; the
	// executor when a container mounts and unmounts it.
	vols, err := volume.Open(volume.Config{Root: filepath.Join(t.TempDir(), "volumes"), Events: log})
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Volumes = vols
	task := newTask("sh", "-c", "sleep 0.2; exit 3")
	task.Spec.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Target: "/data"}}
	ctl := start(t, e, task)
	if st := wait(t, ctl); st.Code != 3 {
		t.Fatalf("exit %d, want 3", st.Code)
	}
	id := ContainerID(task.ID)
	if err := ctl.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"create", "start", "die", "destroy"}, log.of(events.ContainerEventType)); d != "" {
		t.Errorf("container events (-want +got):\n%s", d)
	}
	die, _ := log.find(events.ContainerEventType, events.ActionDie)
	a := die.Actor.Attributes
	if die.Actor.ID != id || a["exitCode"] != "3" || a["image"] != testImage || a["name"] != containerName(task) || a[LabelServiceName] != "svc" {
		t.Errorf("die event %+v: want the container's ID, exitCode 3, its image, name and labels", die.Actor)
	}
	if d := cmp.Diff([]string{"create", "mount", "unmount", "destroy"}, log.of(events.VolumeEventType)); d != "" {
		t.Errorf("volume events (-want +got):\n%s", d)
	}
}

// TestStopEvents: a shutdown signals (kill with the signal), the process
// dies, and the container is stopped; exec events carry the command.
func TestStopEvents(t *testing.T) {
	e := newExecutor(t, "")
	log := &eventLog{}
	e.cfg.Events = log
	task := newTask("sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
	ctl := start(t, e, task)
	id := ContainerID(task.ID)
	if out, code := execOutput(t, e, id, nil, "echo", "hi"); code != 0 || out != "hi\n" {
		t.Fatalf("exec got %q %d", out, code)
	}
	if err := ctl.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	wait(t, ctl)
	deadline := time.Now().Add(10 * time.Second)
	for len(log.of(events.ContainerEventType)) < 8 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := strings.Join(log.of(events.ContainerEventType), ", ")
	for _, want := range []string{"exec_create: echo hi", "exec_start: echo hi", "exec_die", "kill", "die", "stop"} {
		if !strings.Contains(got, want) {
			t.Errorf("container events %q lack %q", got, want)
		}
	}
	if kill, _ := log.find(events.ContainerEventType, events.ActionKill); kill.Actor.Attributes["signal"] != "15" {
		t.Errorf("kill event %+v: want signal 15", kill.Actor.Attributes)
	}
}

// TestStats samples a running container: its CPU time, memory, processes
// and network counters come from its cgroup and namespace.
func TestStats(t *testing.T) {
	e := newExecutor(t, "")
	task := newTask("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 60")
	ctl := start(t, e, task)
	defer ctl.Terminate(t.Context())
	time.Sleep(500 * time.Millisecond)
	s, err := e.Stats(t.Context(), ContainerID(task.ID))
	if err != nil {
		t.Fatal(err)
	}
	if s.CPUStats.CPUUsage.TotalUsage == 0 || s.CPUStats.SystemUsage == 0 || s.CPUStats.OnlineCPUs == 0 {
		t.Errorf("cpu stats %+v: want the container's and the system's CPU time", s.CPUStats)
	}
	if s.MemoryStats.Usage == 0 || s.MemoryStats.Limit == 0 || s.PidsStats.Current == 0 {
		t.Errorf("memory %+v pids %+v: want usage, a limit and processes", s.MemoryStats, s.PidsStats)
	}
	if s.Name != "/"+containerName(task) || s.Read.IsZero() {
		t.Errorf("stats of %q read %v: want the container's name and the time", s.Name, s.Read)
	}
	if _, err := e.Stats(t.Context(), "nope"); err == nil {
		t.Error("stats of a container that does not exist: want an error")
	}
}

func TestNetDev(t *testing.T) {
	in := []byte(`Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0
  eth0:    1838      21    1    2    0     0          0         0      586       7    3    4    0     0       0          0
`)
	want := map[string]container.NetworkStats{"eth0": {RxBytes: 1838, RxPackets: 21, RxErrors: 1, RxDropped: 2, TxBytes: 586, TxPackets: 7, TxErrors: 3, TxDropped: 4}}
	if d := cmp.Diff(want, netDev(in)); d != "" {
		t.Errorf("netDev (-want +got):\n%s", d)
	}
}

func TestParseSystemCPU(t *testing.T) {
	got, err := parseSystemCPU([]byte("cpu  100 2 30 400 5 6 7 8 0 0\ncpu0 1 1 1 1 1 1 1\n"))
	if want := uint64(100+2+30+400+5+6+7) * 1e7; err != nil || got != want {
		t.Errorf("parseSystemCPU = %d, %v; want %d", got, err, want)
	}
	if _, err := parseSystemCPU([]byte("intr 1 2 3\n")); err == nil {
		t.Error("no cpu line: want an error")
	}
}

func TestFromCgroup1(t *testing.T) {
	var s container.StatsResponse
	fromCgroup1(&s, &v1.Metrics{
		CPU:    &v1.CPUStat{Usage: &v1.CPUUsage{Total: 900, Kernel: 300, User: 600, PerCPU: []uint64{400, 500}}},
		Memory: &v1.MemoryStat{TotalInactiveFile: 1024, Usage: &v1.MemoryEntry{Usage: 4096, Max: 8192, Limit: 1 << 20}},
		Blkio:  &v1.BlkIOStat{IoServiceBytesRecursive: []*v1.BlkIOEntry{{Op: "Read", Major: 8, Value: 10}, {Op: "Write", Major: 8, Value: 20}}},
		Pids:   &v1.PidsStat{Current: 3, Limit: 100},
	})
	if s.CPUStats.CPUUsage.TotalUsage != 900 || len(s.CPUStats.CPUUsage.PercpuUsage) != 2 {
		t.Errorf("cpu %+v", s.CPUStats)
	}
	// docker stats subtracts total_inactive_file from usage on cgroup v1.
	if s.MemoryStats.Usage != 4096 || s.MemoryStats.Limit != 1<<20 || s.MemoryStats.Stats["total_inactive_file"] != 1024 {
		t.Errorf("memory %+v", s.MemoryStats)
	}
	if got := fmt.Sprint(s.BlkioStats.IoServiceBytesRecursive); got != "[{8 0 Read 10} {8 0 Write 20}]" {
		t.Errorf("blkio %s", got)
	}
	if s.PidsStats.Current != 3 {
		t.Errorf("pids %+v", s.PidsStats)
	}
}
