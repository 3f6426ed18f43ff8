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
		server, serverErr := api.ServerVersion(cmd.Context(), client.ServerVersionOptions{})
		tw := tabwriter.NewWriter(e.out, 0, 1, 1, ' ', 0)
		row := func(indent, k, v string) { fmt.Fprintf(tw, "%s%s:\t%s\n", indent, k, v) }
		fmt.Fprintln(tw, "Client:")
		row(" ", "Version", clientVersion())
		row(" ", "API version", api.ClientVersion())
		row(" ", "Go version", runtime.Version())
		row(" ", "OS/Arch", runtime.GOOS+"/"+runtime.GOARCH)
		row(" ", "Host", e.daemonHost())
		if serverErr == nil {
			fmt.Fprintf(tw, "\nServer: %s\n", server.Platform.Name)
			row(" ", "Version", server.Version)
			row(" ", "API version", server.APIVersion+" (minimum version "+server.MinAPIVersion+")")
			row(" ", "OS/Arch", server.Os+"/"+server.Arch)
			for _, c := range server.Components {
				fmt.Fprintf(tw, " %s:\n", c.Name)
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
		row := func(indent, k string, v any) { e.printf("%s%s: %v\n", indent, k, v) }
		e.printf("Client:\n")
		row(" ", "Version", clientVersion())
		row(" ", "Host", e.daemonHost())
		e.printf("\nServer:\n")
		row(" ", "Name", info.Name)
		row(" ", "Server Version", info.ServerVersion)
		row(" ", "Containers", info.Containers)
		row("  ", "Running", info.ContainersRunning)
		row("  ", "Stopped", info.ContainersStopped)
		row(" ", "Images", info.Images)
		sw := info.Swarm
		row(" ", "Swarm", sw.LocalNodeState)
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
				e.printf("  Manager Addresses:\n")
				for _, m := range sw.RemoteManagers {
					e.printf("   %s\n", m.Addr)
				}
			}
		}
		row(" ", "Kernel Version", info.KernelVersion)
		row(" ", "Operating System", info.OperatingSystem)
		row(" ", "OSType", info.OSType)
		row(" ", "Architecture", info.Architecture)
		row(" ", "CPUs", info.NCPU)
		row(" ", "Total Memory", format.BinarySize(info.MemTotal))
		for _, w := range append(info.Warnings, sw.Warnings...) {
			e.printf("WARNING: %s\n", w)
		}
		return nil
	})
	return cmd
}
