package localcluster

import (
	"fmt"
	"net/netip"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// NewCommand returns `shoal cluster`.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a whole Shoal cluster on this machine, each host in a network namespace",
	}
	cmd.AddCommand(upCommand(), lsCommand(), downCommand())
	return cmd
}

func upCommand() *cobra.Command {
	var (
		o      Options
		subnet string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create hosts, start a daemon on each and form a swarm",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := netip.ParsePrefix(subnet)
			if err != nil {
				return fmt.Errorf("--subnet %q: %w", subnet, err)
			}
			o.Subnet = p
			o.Log = cmd.ErrOrStderr()
			c, err := Up(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "\ncluster %q is up: %d managers, %d workers\n\n", c.Name, o.Managers, o.Workers)
			for _, h := range c.Hosts {
				fmt.Fprintf(out, "  %-10s %-8s %-15s export DOCKER_HOST=%s\n", h.Name, h.Role, h.Addr, h.DockerHost())
			}
			fmt.Fprintf(out, "\nRun a command on a host's network: ip netns exec %s sh\n", c.Hosts[0].Netns)
			fmt.Fprintf(out, "Remove it all: shoal cluster down %s\n", c.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "shoal", "cluster name")
	f.IntVar(&o.Managers, "managers", 3, "number of manager hosts")
	f.IntVar(&o.Workers, "workers", 2, "number of worker hosts")
	f.StringVar(&subnet, "subnet", DefaultSubnet.String(), "addresses of the hosts (the bridge takes the first)")
	f.StringArrayVar(&o.DaemonArgs, "daemon-arg", nil, "extra flag for every host's daemon (repeatable), e.g. --daemon-arg=--insecure-registry=10.249.0.1:5000")
	return cmd
}

func lsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List local clusters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := List()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 3, ' ', 0)
			fmt.Fprintln(w, "NAME\tHOSTS\tRUNNING\tSUBNET\tFIRST MANAGER")
			for _, c := range cs {
				first := ""
				if len(c.Hosts) > 0 {
					first = c.Hosts[0].DockerHost()
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", c.Name, len(c.Hosts), c.Running(), c.Subnet, first)
			}
			return w.Flush()
		},
	}
}

func downCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "down NAME",
		Short: "Stop a local cluster and remove everything it made",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := Load(args[0])
			if err != nil {
				return err
			}
			if err := Down(cmd.Context(), c); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster %q removed\n", c.Name)
			return nil
		},
	}
}
