package daemon

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/internal/apitls"
	"github.com/shoal-project/shoal/internal/clustermetrics"
	"github.com/shoal-project/shoal/internal/engine"
	"github.com/shoal-project/shoal/internal/events"
	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/node"
)

// serveMetrics serves /metrics on addr (as the user wrote it: flag; tcp
// opens it when it is reachable from the network) until
// the returned function is called, with what only the running daemon
// knows registered beside the package's metrics: the swarm's figures from
// this node's manager, the events' subscribers, the containers' states
// and the engine's description.
func serveMetrics(addr apitls.Addr, tcp metrics.TCPListeners, flag string, nd *node.Node, eng *engine.Engine, bus *events.Bus, engineID string, log *slog.Logger) (func(), error) {
	ln, err := metrics.Listen(addr, tcp)
	if err != nil {
		return nil, err
	}
	collectors := []prometheus.Collector{
		clustermetrics.NewCollector(nd.Manager),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "engine_daemon_events_subscribers_total",
			Help: "The number of current subscribers to events.",
		}, func() float64 { return float64(bus.Subscribers()) }),
		&containerStates{list: eng.Executor.List},
	}
	for _, c := range collectors {
		if err := metrics.Registry.Register(c); err != nil {
			ln.Close()
			return nil, err
		}
	}
	setEngineInfo(eng, engineID)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := metrics.Serve(ctx, ln, log); err != nil {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("serving metrics", "metrics-addr", flag)
	return func() {
		cancel()
		<-done
		for _, c := range collectors {
			metrics.Registry.Unregister(c)
		}
	}, nil
}

// setEngineInfo sets dockerd's engine description gauges.
func setEngineInfo(eng *engine.Engine, engineID string) {
	var uts unix.Utsname
	unix.Uname(&uts)
	kernel := unix.ByteSliceToString(uts.Release[:])
	metrics.EngineInfo.Reset()
	metrics.EngineInfo.WithLabelValues(Version, "", unix.ByteSliceToString(uts.Machine[:]), eng.Executor.Snapshotter(),
		kernel, osName(), runtime.GOOS, osVersion(), engineID).Set(1)
	metrics.EngineCPUs.Set(float64(runtime.NumCPU()))
	metrics.EngineMemory.Set(float64(memTotal()))
}

// containerStates is dockerd's engine_daemon_container_states_containers,
// read from the executor when scraped.
type containerStates struct {
	list func(ctx context.Context, all bool, filters map[string][]string) ([]container.Summary, error)
}

var descContainerStates = prometheus.NewDesc("engine_daemon_container_states_containers",
	"The count of containers in various states.", []string{"state"}, nil)

func (c *containerStates) Describe(ch chan<- *prometheus.Desc) { ch <- descContainerStates }

func (c *containerStates) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := c.list(ctx, true, nil)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descContainerStates, err)
		return
	}
	counts := map[string]int{"running": 0, "paused": 0, "stopped": 0}
	for _, s := range list {
		switch s.State {
		case container.StateRunning:
			counts["running"]++
		case container.StatePaused:
			counts["paused"]++
		default:
			counts["stopped"]++
		}
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(descContainerStates, prometheus.GaugeValue, float64(n), state)
	}
}
