// Command shoal-bench runs Shoal's benchmarks and prints their numbers,
// the last line being the one to record (docs/BENCHMARKS.md).
//
//	shoal-bench scheduler --nodes 1000 --tasks 100000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/shoal-project/shoal/bench/schedbench"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "shoal-bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "scheduler" {
		return fmt.Errorf("usage: shoal-bench scheduler [flags] (the only benchmark so far)")
	}
	fs := flag.NewFlagSet("scheduler", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg schedbench.Config
	fs.IntVar(&cfg.Nodes, "nodes", 1000, "simulated nodes")
	fs.IntVar(&cfg.Tasks, "tasks", 100000, "tasks to place, spread evenly over the services")
	fs.IntVar(&cfg.Services, "services", 100, "replicated services")
	fs.BoolVar(&cfg.Agents, "agents", false, "run an agent per node (fake executor, TLS session to the dispatcher) and wait for every task to run")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	verbose := fs.Bool("v", false, "log the manager's warnings to stderr")
	if err := fs.Parse(args[1:]); err != nil {
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
