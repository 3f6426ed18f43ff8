package cli

import (
	"context"
	"fmt"
	"runtime"
	"text/tabwriter"

	"github.com/moby/moby/client"
	"github.com/shoal-project/shoal/internal/cli/format"
	"github.com/spf13/cobra"
)

func newVersionCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the Shoal version information",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		api, err := e.client()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		server, serverErr := api.ServerVersion(ctx, client.ServerVersionOptions{})
		tw := tabwriter.NewWriter(e.out, 0, 1, 1, ' ', 0)
		row := func(indent, k, v string) { tw.Write([]byte(indent + k + ":\t" + v + "\n")) }
		tw.Write([]byte("Client:\n"))
		row(" ", "Version", clientVersion())
		row(" ", "API version", api.ClientVersion())
		row(" ", "Go version", runtime.Version())
		row(" ", "OS/Arch", runtime.GOOS+"/"+runtime.GOARCH)
		row(" ", "Host", e.daemonHost())
		if serverErr == nil {
			tw.Write([]byte("\nServer: " + server.Platform.Name + "\n"))
			row(" ", "Version", server.Version)
			row(" ", "API version", server.APIVersion+" (minimum version "+server.MinAPIVersion+")")
			row(" ", "OS/Arch", server.Os+"/"+server.Arch)
			for _, c := range server.Components {
				tw.Write([]byte(" " + c.Name + ":\n"))
				row("  ", "Version", c.Version)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		return e.explain(serverErr)
	}
	return cmd
}

func newInfoCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Display system-wide information",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		res, err := api.Info(ctx, client.InfoOptions{})
		if err != nil {
			return err
		}
		info := res.Info
		tw := tabwriter.NewWriter(e.out, 0, 1, 1, ' ', 0)
		row := func(indent, k string, v any) { fmt.Fprintf(tw, "%s%s:\t%v\n", indent, k, v) }
		tw.Write([]byte("Client:\n"))
		row(" ", "Version", clientVersion())
		row(" ", "Host", e.daemonHost())
		tw.Write([]byte("\nServer:\n"))
		row(" ", "Name", info.Name)
		row(" ", "Server Version", info.ServerVersion)
		row(" ", "Containers", info.Containers)
		row("  ", "Running", info.ContainersRunning)
		row("  ", "Stopped", info.ContainersStopped)
		row(" ", "Images", info.Images)
		sw := info.Swarm
		row(" ", "Swarm", string(sw.LocalNodeState))
		if sw.NodeID != "" {
			row("  ", "NodeID", sw.NodeID)
			if sw.Error != "" {
				row("  ", "Error", sw.Error)
			}
			row("  ", "Is Manager", sw.ControlAvailable)
			if sw.Cluster != nil {
				row("  ", "ClusterID", sw.Cluster.ID)
			}
			if sw.ControlAvailable {
				row("  ", "Managers", sw.Managers)
				row("  ", "Nodes", sw.Nodes)
			}
			row("  ", "Node Address", sw.NodeAddr)
			if len(sw.RemoteManagers) > 0 {
				tw.Write([]byte("  Manager Addresses:\n"))
				for _, m := range sw.RemoteManagers {
					tw.Write([]byte("   " + m.Addr + "\n"))
				}
			}
		}
		row(" ", "Kernel Version", info.KernelVersion)
		row(" ", "Operating System", info.OperatingSystem)
		row(" ", "OSType", info.OSType)
		row(" ", "Architecture", info.Architecture)
		row(" ", "CPUs", info.NCPU)
		row(" ", "Total Memory", format.BinarySize(info.MemTotal))
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, w := range append(info.Warnings, sw.Warnings...) {
			e.printf("WARNING: %s\n", w)
		}
		return nil
	})
	return cmd
}
