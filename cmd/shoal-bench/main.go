// Command shoal-bench runs Shoal's benchmarks and prints their numbers,
// the last line being the one to record (docs/BENCHMARKS.md).
//
//	shoal-bench scheduler --nodes 1000 --tasks 100000
//	shoal-bench floor --containers 20 --rootfs rootfs.tar --root DIR --state DIR (bench/floor.sh runs it)
//	shoal-bench http-serve --addr :80 / http-load --url URL --conns 16 --duration 10s (bench/mesh.sh runs them)
//	shoal-bench api-load --socket PATH --clients 500 --duration 30s (bench/api-load.sh runs it)
//	shoal-bench registry-serve --addr :5000 / registry-push --tar save.tar --ref HOST/app:v1 (bench/imagepeer.sh)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/bench/apiload"
	"github.com/shoal-project/shoal/bench/floorbench"
	"github.com/shoal-project/shoal/bench/httpload"
	"github.com/shoal-project/shoal/bench/schedbench"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "shoal-bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "scheduler":
			return scheduler(args[1:], stdout, stderr)
		case "floor":
			return floor(args[1:], stdout, stderr)
		case "http-serve":
			return httpServe(args[1:], stderr)
		case "http-load":
			return httpLoad(args[1:], stdout, stderr)
		case "api-load":
			return apiLoad(args[1:], stdout, stderr)
		case "registry-serve":
			return registryServe(args[1:], stderr)
		case "registry-push":
			return registryPush(args[1:], stderr)
		}
	}
	return fmt.Errorf("usage: shoal-bench scheduler|floor|http-serve|http-load|api-load|registry-serve|registry-push [flags]")
}

func scheduler(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scheduler", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg schedbench.Config
	fs.IntVar(&cfg.Nodes, "nodes", 1000, "simulated nodes")
	fs.IntVar(&cfg.Tasks, "tasks", 100000, "tasks to place, spread evenly over the services")
	fs.IntVar(&cfg.Services, "services", 100, "replicated services")
	fs.BoolVar(&cfg.Agents, "agents", false, "run an agent per node (fake executor, TLS session to the dispatcher) and wait for every task to run")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	verbose := fs.Bool("v", false, "log the manager's warnings to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg.Progress = stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	fmt.Fprintf(stdout, "placing %d tasks of %d services on %d nodes (agents: %v)\n", cfg.Tasks, cfg.Services, cfg.Nodes, cfg.Agents)
	res, err := schedbench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "assigned %d tasks in %.2fs (%d raft entries, %.2fs of CPU: %.0f tasks per CPU-second)\n",
		res.Tasks, res.Assigned.Seconds(), res.Entries, res.CPU.Seconds(), float64(res.Tasks)/res.CPU.Seconds())
	rate := res.AssignedPerSecond()
	if cfg.Agents {
		fmt.Fprintf(stdout, "assigned_per_s=%.0f\n", rate)
		fmt.Fprintf(stdout, "running %d tasks in %.2fs\n", res.Tasks, res.Running.Seconds())
		rate = res.RunningPerSecond()
	}
	fmt.Fprintf(stdout, "tasks_per_s=%.0f\n", rate)
	return nil
}

func floor(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg floorbench.Config
	fs.IntVar(&cfg.Containers, "containers", 20, "containers to create and start")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "containers in flight at once; all of them when 0, as on a Shoal node")
	fs.IntVar(&cfg.Runs, "runs", 3, "measured runs")
	fs.StringVar(&cfg.Rootfs, "rootfs", "", "root filesystem tarball of the image (scripts/mkrootfs.sh)")
	fs.StringVar(&cfg.Root, "root", "", "the private containerd's root directory")
	fs.StringVar(&cfg.State, "state", "", "the private containerd's state directory (short: it holds sockets)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	results, err := floorbench.Run(ctx, cfg, func(i int, r floorbench.Result) {
		fmt.Fprintf(stdout, "run %d: %d containers started in %.2f s (per container, median: create %.0f ms, task %.0f ms, start %.0f ms)\n",
			i+1, cfg.Containers, r.Wall.Seconds(), ms(r.Create), ms(r.Task), ms(r.Start))
	})
	if err != nil {
		return err
	}
	walls := make([]time.Duration, len(results))
	for i, r := range results {
		walls[i] = r.Wall
	}
	fmt.Fprintf(stdout, "floor_s=%.2f\n", floorbench.Median(walls).Seconds())
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func httpServe(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("http-serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":80", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return httpload.Serve(ctx, *addr)
}

func httpLoad(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("http-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg httpload.Config
	fs.StringVar(&cfg.URL, "url", "", "URL to GET")
	fs.IntVar(&cfg.Conns, "conns", 16, "concurrent clients")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send")
	fs.BoolVar(&cfg.NewConns, "new-conns", false, "open a new connection for every request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := httpload.Run(context.Background(), cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "requests=%d errors=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f\n",
		res.Requests, res.Errors, res.PerSecond(), ms(res.P50), ms(res.P99))
	return nil
}

func apiLoad(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("api-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg apiload.Config
	fs.StringVar(&cfg.Socket, "socket", "/var/run/docker.sock", "the daemon's unix socket")
	fs.IntVar(&cfg.Clients, "clients", 500, "concurrent load clients")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to load")
	fs.DurationVar(&cfg.Probe, "probe", 50*time.Millisecond, "how often the probe lists services; 0 runs none (bench/api-load.sh probes from another process)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := apiload.Run(context.Background(), cfg)
	if err != nil {
		return err
	}
	total := 0
	for _, n := range res.Requests {
		total += n
	}
	fmt.Fprintf(stdout, "requests=%v\n", res.Requests)
	if res.Errors > 0 {
		fmt.Fprintf(stdout, "first error: %s\n", res.FirstError)
	}
	fmt.Fprintf(stdout, "api-load clients=%d duration=%s load_requests=%d load_rps=%.0f errors=%d probes=%d service_ls_p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
		cfg.Clients, cfg.Duration, total, float64(total)/cfg.Duration.Seconds(), res.Errors, res.Probes, ms(res.P50), ms(res.P99), ms(res.Max))
	return nil
}
