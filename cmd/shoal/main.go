// Command shoal is the Shoal daemon and its command-line client in one
// binary: `shoal daemon` runs a node, `shoal cluster` runs a local
// multi-host cluster, and every other command talks to a node over the
// Docker Engine API.
package main

import (
	"os"

	"github.com/shoal-project/shoal/internal/cli"
	"github.com/shoal-project/shoal/internal/daemon"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
	"github.com/shoal-project/shoal/internal/localcluster"
)

func main() {
	// A containerd shim runs this binary as its containers' log driver.
	containerdexec.LoggerMain()
	root := cli.NewRootCommand(daemon.NewCommand())
	root.AddCommand(localcluster.NewCommand())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
