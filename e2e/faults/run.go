package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/localcluster"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// Config says what one run does.
type Config struct {
	Seed     uint64
	Managers int // 3 or 5
	Workers  int
	Schedule ScheduleConfig
	Binary   string // the shoal executable the hosts run
	// DaemonArgs are more flags for every daemon (--log-level=debug to
	// read what each controller and task did).
	DaemonArgs []string
	Name       string // of the local cluster
	Subnet     netip.Prefix
	Clients    int
	Services   int // service names the clients share
	// CallTimeout bounds each API call; a call past it has an unknown
	// outcome.
	CallTimeout time.Duration
	// ConvergeWithin is how long after the last fault healed every
	// service must run at its replica count.
	ConvergeWithin time.Duration
	// CatchUpWithin is how long after that every manager must serve the
	// leader's state.
	CatchUpWithin time.Duration
	// Artifacts is where a run with anomalies leaves its history (HTML),
	// "" for nowhere.
	Artifacts string
	Log       io.Writer
}

func (c *Config) defaults() {
	if c.Managers == 0 {
		c.Managers = 3
	}
	if c.Schedule == (ScheduleConfig{}) {
		c.Schedule = DefaultScheduleConfig
	}
	if c.Name == "" {
		c.Name = fmt.Sprintf("faults%d", c.Seed%100000)
	}
	if c.Subnet == (netip.Prefix{}) {
		c.Subnet = netip.MustParsePrefix("10.249.88.0/24")
	}
	if c.Clients == 0 {
		c.Clients = 4
	}
	if c.Services == 0 {
		c.Services = 3
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 5 * time.Second
	}
	if c.ConvergeWithin == 0 {
		c.ConvergeWithin = 30 * time.Second
	}
	if c.CatchUpWithin == 0 {
		c.CatchUpWithin = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Result is what a run found.
type Result struct {
	Seed     uint64
	Faults   []Fault
	Ops      int             // calls recorded
	Outcomes map[Outcome]int // of the writes
	// Linearizable is porcupine's verdict with reads during faults
	// allowed to be stale; Strict, with every read linearizable.
	Linearizable, Strict porcupine.CheckResult
	// Converge is how long after the last heal every service ran at its
	// replica count; -1 when it did not within ConvergeWithin.
	Converge time.Duration
	// CatchUp is how long after converging every manager served the
	// services the leader did.
	CatchUp time.Duration
	// StaleReads are the reads during faults that certainly returned an
	// overwritten value.
	StaleReads []string
	// Applied5xx counts writes answered with a 5xx that did apply.
	Applied5xx int
	Anomalies  []string
	// History is the path of the HTML view of the history, when written.
	History string
}

// Run brings a local cluster up, runs one schedule against it with the
// workload, heals, checks, and removes the cluster, even on failure. An
// error is a run that could not be made; what the run found wrong is in
// Result.Anomalies.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	cfg.defaults()
	res = Result{Seed: cfg.Seed, Outcomes: map[Outcome]int{}}
	plan, err := localcluster.Plan(cfg.Name, cfg.Managers, cfg.Workers, cfg.Subnet)
	if err != nil {
		return res, err
	}
	top := Topology{}
	for _, h := range plan.Hosts {
		if h.Role == "manager" {
			top.Managers = append(top.Managers, h.Name)
		} else {
			top.Workers = append(top.Workers, h.Name)
		}
	}
	res.Faults = Schedule(cfg.Seed, cfg.Schedule, top)
	fmt.Fprintf(cfg.Log, "seed %d: %d managers, %d workers, %d faults\n", cfg.Seed, cfg.Managers, cfg.Workers, len(res.Faults))
	for _, f := range res.Faults {
		fmt.Fprintf(cfg.Log, "  %s\n", f)
	}
	if old, err := localcluster.Load(cfg.Name); err == nil {
		// Left by a run that was killed before it could clean up.
		if err := localcluster.Down(ctx, old); err != nil {
			// Pieces a killed run removed already are errors here; what
			// counts is that the cluster is gone.
			if _, lerr := localcluster.Load(cfg.Name); lerr == nil {
				return res, fmt.Errorf("remove the cluster an earlier run left: %w", err)
			}
			fmt.Fprintf(cfg.Log, "removed the cluster an earlier run left (%v)\n", err)
		}
	}
	if cfg.Schedule.Disk {
		// The last manager's data root is a small tmpfs for the nemesis
		// to fill. cluster down unmounts it with the rest.
		root := plan.Hosts[cfg.Managers-1].DataRoot
		if err := os.MkdirAll(root, 0o711); err != nil {
			return res, err
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", root).CombinedOutput(); err != nil {
			return res, fmt.Errorf("tmpfs on %s: %v: %s", root, err, out)
		}
	}
	start := time.Now()
	c, err := localcluster.Up(ctx, localcluster.Options{
		Name: cfg.Name, Managers: cfg.Managers, Workers: cfg.Workers, Subnet: cfg.Subnet, Binary: cfg.Binary,
		DaemonArgs: cfg.DaemonArgs,
	})
	if err != nil {
		if cfg.Schedule.Disk {
			exec.Command("umount", "-l", plan.Hosts[cfg.Managers-1].DataRoot).Run()
			os.RemoveAll(plan.Dir)
		}
		return res, fmt.Errorf("cluster up: %w", err)
	}
	clients := map[string]*apiClient{}
	for _, h := range c.Hosts {
		clients[h.Name] = newAPIClient(h.Name, h.Socket, cfg.CallTimeout)
	}
	nem := &nemesis{c: c, top: top, binary: cfg.Binary, daemonArgs: cfg.DaemonArgs, clients: clients}
	defer func() {
		nem.healAll(context.Background())
		downStart := time.Now()
		nem.clear(context.Background())
		defer func() { fmt.Fprintf(cfg.Log, "cluster down in %.1fs\n", time.Since(downStart).Seconds()) }()
		if derr := localcluster.Down(context.Background(), c); derr != nil {
			err = errors.Join(err, fmt.Errorf("cluster down: %w", derr))
		}
	}()
	if err := prepare(ctx, c, clients[top.Managers[0]]); err != nil {
		return res, err
	}
	fmt.Fprintf(cfg.Log, "cluster ready in %.1fs\n", time.Since(start).Seconds())

	rec := newRecorder()
	var managers []*apiClient
	for _, m := range top.Managers {
		managers = append(managers, clients[m])
	}
	keys := make([]string, cfg.Services)
	for i := range keys {
		keys[i] = fmt.Sprintf("svc-%c", 'a'+i)
	}
	wl := &workload{keys: keys, managers: managers, rec: rec, clients: cfg.Clients, seed: cfg.Seed}
	wctx, stop := context.WithTimeout(ctx, cfg.Schedule.Duration)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { wl.run(wctx) })
	lastHeal, nerr := runSchedule(wctx, nem, res.Faults, rec, cfg.Log)
	wg.Wait()
	if nerr != nil {
		return res, nerr
	}
	if lastHeal.IsZero() {
		lastHeal = time.Now()
	}

	var found []string
	res.Converge, found = awaitConvergence(ctx, nem, lastHeal, cfg.ConvergeWithin)
	res.Anomalies = append(res.Anomalies, found...)
	fmt.Fprintf(cfg.Log, "converged %.1fs after the last heal\n", res.Converge.Seconds())

	// Final reads, on every manager once all have caught up with the
	// leader: each must be linearizable.
	res.CatchUp, found = awaitCaughtUp(ctx, nem, cfg.CatchUpWithin)
	res.Anomalies = append(res.Anomalies, found...)
	fmt.Fprintf(cfg.Log, "every manager caught up %.1fs later\n", res.CatchUp.Seconds())
	finalFrom := rec.now()
	final := map[string]Output{}
	for _, k := range keys {
		for i, m := range managers {
			out := rec.call(cfg.Clients+i, Input{Op: OpRead, Key: k}, func() Output {
				o := m.read(ctx, k)
				o.Manager = m.host
				return o
			})
			if _, ok := final[k]; !ok || final[k].Outcome == Unknown {
				final[k] = out
			}
		}
	}

	h := rec.history()
	res.Ops = len(h)
	for _, op := range h {
		if op.Input.(Input).Op != OpRead {
			res.Outcomes[op.Output.(Output).Outcome]++
		}
	}
	checkStart := time.Now()
	lin := checkLinearizable(h, true, finalFrom)
	strict := checkLinearizable(h, false, finalFrom)
	fmt.Fprintf(cfg.Log, "checked %d calls in %.1fs\n", len(h), time.Since(checkStart).Seconds())
	res.Linearizable, res.Strict = lin.Result, strict.Result
	switch lin.Result {
	case porcupine.Illegal:
		res.Anomalies = append(res.Anomalies, fmt.Sprintf("history not linearizable (%s), even with reads during faults allowed to lag", lin.Result))
		res.Anomalies = append(res.Anomalies, explain(h, true, finalFrom)...)
	case porcupine.Unknown:
		// Undecided within checkTimeout (a loaded machine): recorded as
		// such (Result.Linearizable), not as something found wrong.
		fmt.Fprintf(cfg.Log, "linearizability undecided within %s\n", checkTimeout)
	}
	res.StaleReads = staleReads(h)
	res.Anomalies = append(res.Anomalies, lostWrites(h, final)...)
	refused, applied := refusedApplied(h)
	res.Anomalies = append(res.Anomalies, refused...)
	res.Applied5xx = applied
	if cfg.Artifacts != "" && (len(res.Anomalies) > 0 || strict.Result != porcupine.Ok) {
		res.History = filepath.Join(cfg.Artifacts, fmt.Sprintf("faults-seed-%d.html", cfg.Seed))
		view := strict
		if lin.Result != porcupine.Ok {
			view = lin
		}
		if f, err := os.Create(res.History); err == nil {
			view.visualize(f)
			f.Close()
		}
		// The daemons' logs go with the cluster; keep them beside the
		// history, to read what each node did.
		for _, h := range c.Hosts {
			if data, err := os.ReadFile(filepath.Join(h.DataRoot, "daemon.log")); err == nil {
				os.WriteFile(filepath.Join(cfg.Artifacts, fmt.Sprintf("faults-seed-%d-%s.log", cfg.Seed, h.Name)), data, 0o644)
			}
		}
	}
	return res, nil
}

// prepare gives every host the test image, makes a dead node noticed in
// seconds, and waits until every node is ready.
func prepare(ctx context.Context, c *localcluster.Cluster, m *apiClient) error {
	dir, err := os.MkdirTemp("", "faults-rootfs")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive, err := imageArchive(dir)
	if err != nil {
		return err
	}
	for _, h := range c.Hosts {
		if err := loadImage(ctx, h, archive); err != nil {
			return fmt.Errorf("%s: load the test image: %w", h.Name, err)
		}
	}
	// A leader may change while the new cluster settles on a loaded
	// machine; the update is tried again, as a client would, until it
	// gets an answer other than 503.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := heartbeatEverySecond(ctx, m)
		var ae *apiError
		if err == nil {
			break
		}
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return fmt.Errorf("swarm update: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		nodes, err := m.nodes(ctx)
		ready := 0
		for _, n := range nodes {
			if n.Status.State == swarm.NodeStateReady {
				ready++
			}
		}
		if err == nil && ready == len(c.Hosts) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d nodes ready after 60 s (%v)", ready, len(c.Hosts), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// heartbeatEverySecond sets the dispatcher's heartbeat period to 1 s.
func heartbeatEverySecond(ctx context.Context, m *apiClient) error {
	var sw swarm.Swarm
	if err := m.do(ctx, http.MethodGet, "/swarm", nil, &sw); err != nil {
		return err
	}
	sw.Spec.Dispatcher.HeartbeatPeriod = time.Second
	return m.do(ctx, http.MethodPost, fmt.Sprintf("/swarm/update?version=%d", sw.Version.Index), sw.Spec, nil)
}

// imageArchive writes the test image as `docker save` would, in dir.
// Every host loads this one archive, so that busybox:latest is the same
// content everywhere: imported on each host it would get a config, and a
// digest, of its own, and a service create or update would pin it to
// whichever digest the manager answering holds. An update through another
// manager would then change the task spec and start a rolling update,
// whose status writes move the service's version with no client write
// (docs/RELIABILITY.md, finding 7).
func imageArchive(dir string) (string, error) {
	rootfs, err := testimage.BuildRootfsTar(dir)
	if err != nil {
		return "", err
	}
	img, err := testimage.BuildImage(rootfs)
	if err != nil {
		return "", err
	}
	tag, err := name.NewTag("busybox:latest")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "busybox.tar")
	return path, tarball.WriteToFile(path, tag, img)
}

func loadImage(ctx context.Context, h localcluster.Host, tar string) error {
	f, err := os.Open(tar)
	if err != nil {
		return err
	}
	defer f.Close()
	c := newAPIClient(h.Name, h.Socket, time.Minute)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://shoal"+apiVersion+"/images/load?quiet=1", f)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}

// runSchedule injects each fault at its time and heals it after its
// length, and returns when the last one healed.
func runSchedule(ctx context.Context, n *nemesis, faults []Fault, rec *recorder, log io.Writer) (time.Time, error) {
	var lastHeal time.Time
	for _, f := range faults {
		select {
		case <-time.After(time.Until(rec.start.Add(f.At))):
		case <-ctx.Done():
			return lastHeal, nil
		}
		heal, targets, err := n.inject(context.WithoutCancel(ctx), f)
		fmt.Fprintf(log, "  %6.2fs %s on %s\n", time.Since(rec.start).Seconds(), f.Kind, strings.Join(targets, ","))
		if err != nil {
			if heal != nil {
				heal(context.Background())
			}
			return lastHeal, fmt.Errorf("inject %s: %w", f, err)
		}
		time.Sleep(time.Until(rec.start.Add(f.At + f.For)))
		if err := heal(context.Background()); err != nil {
			return lastHeal, fmt.Errorf("heal %s: %w", f, err)
		}
		lastHeal = time.Now()
		fmt.Fprintf(log, "  %6.2fs healed\n", time.Since(rec.start).Seconds())
	}
	return lastHeal, nil
}

// place reads the services, tasks and nodes from the leader, and the
// running task containers from every host.
func place(ctx context.Context, n *nemesis) (Placement, error) {
	l := n.leader(ctx)
	if l == "" {
		return Placement{}, errors.New("no leader")
	}
	m := n.clients[l]
	p := Placement{Leader: l}
	var err error
	if p.Services, err = m.services(ctx); err != nil {
		return p, err
	}
	if p.Tasks, err = m.tasks(ctx); err != nil {
		return p, err
	}
	if p.Nodes, err = m.nodes(ctx); err != nil {
		return p, err
	}
	p.Containers = map[string][]container.Summary{}
	for _, h := range n.c.Hosts {
		cs, err := n.clients[h.Name].containers(ctx)
		if err != nil {
			return p, fmt.Errorf("%s: containers: %w", h.Name, err)
		}
		p.Containers[h.Name] = cs
	}
	return p, nil
}

// clear removes every service and, once no task container is left on any
// host, kills the daemons: the cluster can then be taken down without a
// swarm leave on each host, which takes long after faults. When the
// containers do not go, the daemons are left for cluster down.
func (n *nemesis) clear(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l := n.leader(ctx)
	if l == "" {
		return
	}
	svcs, err := n.clients[l].services(ctx)
	if err != nil {
		return
	}
	for _, s := range svcs {
		if err := n.clients[l].remove(ctx, s.ID); err != nil {
			return
		}
	}
	for {
		left := 0
		for _, h := range n.c.Hosts {
			cs, err := n.clients[h.Name].containers(ctx)
			if err != nil {
				return
			}
			left += len(cs)
		}
		if left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, h := range n.c.Hosts {
		killAndReap(h.Pid)
	}
}

// awaitConvergence waits until every service runs at its replica count,
// for up to within after healed, and returns how long that took (-1 when
// it did not) and what was wrong: not converged in time, or two tasks
// running for one slot once it had.
func awaitConvergence(ctx context.Context, n *nemesis, healed time.Time, within time.Duration) (time.Duration, []string) {
	deadline := healed.Add(within)
	for {
		p, err := place(ctx, n)
		waiting := ""
		var dups []string
		if err != nil {
			waiting = err.Error()
		} else {
			waiting, dups = convergence(p)
		}
		var anomalies []string
		for _, d := range dups {
			anomalies = append(anomalies, "after healing, "+d)
		}
		if waiting == "" {
			return time.Since(healed), anomalies
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("not converged %s after the last fault healed: %s", within, waiting)
			if err == nil {
				msg += fmt.Sprintf("; their tasks in the store of %s, the leader:\n%s", p.Leader, strings.Join(shortTasks(p), "\n"))
			}
			return -1, append(anomalies, msg)
		}
		select {
		case <-ctx.Done():
			return -1, append(anomalies, ctx.Err().Error())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// awaitCaughtUp waits until every manager serves the services, at the
// versions, that the leader does, for up to within, and returns how long
// that took. A manager the leader's replication gave up on for a while
// lags for seconds after a partition heals; past within it is an anomaly.
func awaitCaughtUp(ctx context.Context, n *nemesis, within time.Duration) (time.Duration, []string) {
	start := time.Now()
	versions := func(c *apiClient) (map[string]uint64, error) {
		svcs, err := c.services(ctx)
		m := map[string]uint64{}
		for _, s := range svcs {
			m[s.ID] = s.Version.Index
		}
		return m, err
	}
	for {
		var behind []string
		l := n.leader(ctx)
		if l == "" {
			behind = append(behind, "no leader")
		} else if want, err := versions(n.clients[l]); err != nil {
			behind = append(behind, fmt.Sprintf("%s (the leader): %v", l, err))
		} else {
			for _, m := range n.top.Managers {
				got, err := versions(n.clients[m])
				if err != nil || !maps.Equal(got, want) {
					behind = append(behind, fmt.Sprintf("%s serves %v, the leader %s %v (%v)", m, got, l, want, err))
				}
			}
		}
		if len(behind) == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > within {
			return 0, []string{fmt.Sprintf("managers not caught up with the leader %s after converging: %s", within, strings.Join(behind, "; "))}
		}
		select {
		case <-ctx.Done():
			return 0, []string{ctx.Err().Error()}
		case <-time.After(250 * time.Millisecond):
		}
	}
}
