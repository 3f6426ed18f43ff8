package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newSwarmCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "swarm", Short: "Manage the swarm", Args: cobra.NoArgs}
	cmd.AddCommand(
		newSwarmInitCommand(e),
		newSwarmJoinCommand(e),
		newSwarmLeaveCommand(e),
		newSwarmJoinTokenCommand(e),
		newSwarmUpdateCommand(e),
		newSwarmUnlockCommand(e),
		newSwarmUnlockKeyCommand(e),
		newSwarmCACommand(e),
		newSwarmBackupCommand(e),
		newSwarmRestoreCommand(e),
	)
	return cmd
}

// swarmSpecFlags are the cluster settings `swarm init` and `swarm update` share.
type swarmSpecFlags struct {
	taskHistoryLimit    int64
	dispatcherHeartbeat time.Duration
	certExpiry          time.Duration
	autolock            bool
}

func (f *swarmSpecFlags) add(fs *pflag.FlagSet) {
	fs.Int64Var(&f.taskHistoryLimit, "task-history-limit", 5, "Task history retention limit")
	fs.DurationVar(&f.dispatcherHeartbeat, "dispatcher-heartbeat", 5*time.Second, "Dispatcher heartbeat period (ns|us|ms|s|m|h)")
	fs.DurationVar(&f.certExpiry, "cert-expiry", 90*24*time.Hour, "Validity period for node certificates (ns|us|ms|s|m|h)")
	fs.BoolVar(&f.autolock, "autolock", false, "Enable manager autolocking (requiring an unlock key to start a stopped manager)")
}

// merge sets the spec's fields whose flags were given, leaving the others to
// the daemon's defaults or the current values.
func (f *swarmSpecFlags) merge(spec *swarm.Spec, changed func(string) bool) {
	if changed("task-history-limit") {
		limit := f.taskHistoryLimit
		spec.Orchestration.TaskHistoryRetentionLimit = &limit
	}
	if changed("dispatcher-heartbeat") {
		spec.Dispatcher.HeartbeatPeriod = f.dispatcherHeartbeat
	}
	if changed("cert-expiry") {
		spec.CAConfig.NodeCertExpiry = f.certExpiry
	}
	if changed("autolock") {
		spec.EncryptionConfig.AutoLockManagers = f.autolock
	}
}

func newSwarmInitCommand(e *env) *cobra.Command {
	var (
		spec                               swarmSpecFlags
		advertise, listen, dataPath, avail string
		dataPathPort, poolMaskLen          uint32
		forceNewCluster                    bool
		addrPools                          []string
	)
	cmd := &cobra.Command{
		Use:   "init [OPTIONS]",
		Short: "Initialize a swarm",
		Args:  cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&advertise, "advertise-addr", "", "Advertised address (format: <ip|interface>[:port])")
	fs.StringVar(&listen, "listen-addr", "0.0.0.0:2377", "Listen address (format: <ip|interface>[:port])")
	fs.StringVar(&dataPath, "data-path-addr", "", "Address or interface to use for data path traffic (format: <ip|interface>)")
	fs.Uint32Var(&dataPathPort, "data-path-port", 0, "Port number to use for data path traffic (1024 - 49151). If no value is set or is set to 0, the default port (4789) is used.")
	fs.BoolVar(&forceNewCluster, "force-new-cluster", false, "Force create a new cluster from current state")
	fs.StringVar(&avail, "availability", "active", `Availability of the node ("active", "pause", "drain")`)
	fs.StringSliceVar(&addrPools, "default-addr-pool", nil, "default address pool in CIDR format")
	fs.Uint32Var(&poolMaskLen, "default-addr-pool-mask-length", 24, "default address pool subnet mask length")
	spec.add(fs)
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, cmd *cobra.Command, _ []string) error {
		availability, err := parseAvailability(avail)
		if err != nil {
			return err
		}
		req := client.SwarmInitOptions{
			ListenAddr: listen, AdvertiseAddr: advertise, DataPathAddr: dataPath, DataPathPort: dataPathPort,
			ForceNewCluster: forceNewCluster, AutoLockManagers: spec.autolock, Availability: availability,
		}
		for _, p := range addrPools {
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				return fmt.Errorf("invalid --default-addr-pool %q: %w", p, err)
			}
			req.DefaultAddrPool = append(req.DefaultAddrPool, prefix)
		}
		if cmd.Flags().Changed("default-addr-pool-mask-length") {
			req.SubnetSize = poolMaskLen
		}
		spec.merge(&req.Spec, cmd.Flags().Changed)
		res, err := api.SwarmInit(ctx, req)
		if err != nil {
			return err
		}
		e.printf("Swarm initialized: current node (%s) is now a manager.\n\n", res.NodeID)
		if err := e.printJoinCommand(ctx, api, res.NodeID, true, false); err != nil {
			return err
		}
		e.printf("To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.\n\n")
		if spec.autolock {
			key, err := api.SwarmGetUnlockKey(ctx)
			if err != nil {
				return fmt.Errorf("could not fetch unlock key: %w", err)
			}
			e.printUnlockCommand(key.Key)
		}
		return nil
	})
	return cmd
}

func parseAvailability(s string) (swarm.NodeAvailability, error) {
	switch a := swarm.NodeAvailability(strings.ToLower(s)); a {
	case swarm.NodeAvailabilityActive, swarm.NodeAvailabilityPause, swarm.NodeAvailabilityDrain:
		return a, nil
	}
	return "", fmt.Errorf("invalid availability %q, only active, pause and drain are supported", s)
}

// printJoinCommand prints the command that joins another node, with the
// token for each role asked for and this manager's address.
func (e *env) printJoinCommand(ctx context.Context, api *client.Client, nodeID string, worker, manager bool) error {
	sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		return err
	}
	node, err := api.NodeInspect(ctx, nodeID, client.NodeInspectOptions{})
	if err != nil {
		return err
	}
	if node.Node.ManagerStatus == nil {
		return nil
	}
	addr := node.Node.ManagerStatus.Addr
	if worker {
		e.printf("To add a worker to this swarm, run the following command:\n\n    shoal swarm join --token %s %s\n\n", sw.Swarm.JoinTokens.Worker, addr)
	}
	if manager {
		e.printf("To add a manager to this swarm, run the following command:\n\n    shoal swarm join --token %s %s\n\n", sw.Swarm.JoinTokens.Manager, addr)
	}
	return nil
}

func (e *env) printUnlockCommand(key string) {
	if key == "" {
		return
	}
	e.printf("To unlock a swarm manager after it restarts, run the `shoal swarm unlock`\n"+
		"command and provide the following key:\n\n    %s\n\n"+
		"Remember to store this key in a password manager, since without it you\n"+
		"will not be able to restart the manager.\n", key)
}

func newSwarmJoinCommand(e *env) *cobra.Command {
	var token, listen, advertise, dataPath, avail string
	cmd := &cobra.Command{
		Use:   "join [OPTIONS] HOST:PORT",
		Short: "Join a swarm as a node and/or manager",
		Args:  cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	fs.StringVar(&token, "token", "", "Token for entry into the swarm")
	fs.StringVar(&listen, "listen-addr", "0.0.0.0:2377", "Listen address (format: <ip|interface>[:port])")
	fs.StringVar(&advertise, "advertise-addr", "", "Advertised address (format: <ip|interface>[:port])")
	fs.StringVar(&dataPath, "data-path-addr", "", "Address or interface to use for data path traffic (format: <ip|interface>)")
	fs.StringVar(&avail, "availability", "active", `Availability of the node ("active", "pause", "drain")`)
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		availability, err := parseAvailability(avail)
		if err != nil {
			return err
		}
		if _, err := api.SwarmJoin(ctx, client.SwarmJoinOptions{
			JoinToken: token, RemoteAddrs: []string{args[0]}, ListenAddr: listen, AdvertiseAddr: advertise,
			DataPathAddr: dataPath, Availability: availability,
		}); err != nil {
			return err
		}
		info, err := api.Info(ctx, client.InfoOptions{})
		if err != nil {
			return err
		}
		if info.Info.Swarm.ControlAvailable {
			e.println("This node joined a swarm as a manager.")
		} else {
			e.println("This node joined a swarm as a worker.")
		}
		return nil
	})
	return cmd
}

func newSwarmLeaveCommand(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "leave [OPTIONS]",
		Short: "Leave the swarm",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force this node to leave the swarm, ignoring warnings")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		if _, err := api.SwarmLeave(ctx, client.SwarmLeaveOptions{Force: force}); err != nil {
			return err
		}
		e.println("Node left the swarm.")
		return nil
	})
	return cmd
}

func newSwarmJoinTokenCommand(e *env) *cobra.Command {
	var rotate, quiet bool
	cmd := &cobra.Command{
		Use:   "join-token [OPTIONS] (worker|manager)",
		Short: "Manage join tokens",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "Rotate join token")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display token")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		role := args[0]
		worker, manager := role == "worker", role == "manager"
		if !worker && !manager {
			return fmt.Errorf("unknown role %s", role)
		}
		if rotate {
			sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
			if err != nil {
				return err
			}
			if _, err := api.SwarmUpdate(ctx, client.SwarmUpdateOptions{
				Version: sw.Swarm.Version, Spec: sw.Swarm.Spec, RotateWorkerToken: worker, RotateManagerToken: manager,
			}); err != nil {
				return err
			}
			if !quiet {
				e.printf("Successfully rotated %s join token.\n\n", role)
			}
		}
		sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
		if err != nil {
			return err
		}
		if quiet {
			if worker {
				e.println(sw.Swarm.JoinTokens.Worker)
			} else {
				e.println(sw.Swarm.JoinTokens.Manager)
			}
			return nil
		}
		info, err := api.Info(ctx, client.InfoOptions{})
		if err != nil {
			return err
		}
		return e.printJoinCommand(ctx, api, info.Info.Swarm.NodeID, worker, manager)
	})
	return cmd
}

func newSwarmUpdateCommand(e *env) *cobra.Command {
	var spec swarmSpecFlags
	cmd := &cobra.Command{
		Use:   "update [OPTIONS]",
		Short: "Update the swarm",
		Args:  cobra.NoArgs,
	}
	spec.add(cmd.Flags())
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, cmd *cobra.Command, _ []string) error {
		if cmd.Flags().NFlag() == 0 {
			return errors.New("no options given: see `shoal swarm update --help`")
		}
		sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
		if err != nil {
			return err
		}
		wasLocked := sw.Swarm.Spec.EncryptionConfig.AutoLockManagers
		spec.merge(&sw.Swarm.Spec, cmd.Flags().Changed)
		if _, err := api.SwarmUpdate(ctx, client.SwarmUpdateOptions{Version: sw.Swarm.Version, Spec: sw.Swarm.Spec}); err != nil {
			return err
		}
		e.println("Swarm updated.")
		if sw.Swarm.Spec.EncryptionConfig.AutoLockManagers && !wasLocked {
			key, err := api.SwarmGetUnlockKey(ctx)
			if err != nil {
				return fmt.Errorf("could not fetch unlock key: %w", err)
			}
			e.printUnlockCommand(key.Key)
		}
		return nil
	})
	return cmd
}

func newSwarmUnlockCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Unlock swarm",
		Long:  "Unlock a locked manager, with the key read from standard input (prompted for, without echo, on a terminal).",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		info, err := api.Info(ctx, client.InfoOptions{})
		if err != nil {
			return err
		}
		switch info.Info.Swarm.LocalNodeState {
		case swarm.LocalNodeStateInactive:
			return errors.New("this node is not part of a swarm")
		case swarm.LocalNodeStateLocked:
		default:
			return errors.New("swarm is not locked")
		}
		key, err := e.readKey("Enter unlock key: ")
		if err != nil {
			return err
		}
		_, err = api.SwarmUnlock(ctx, client.SwarmUnlockOptions{Key: key})
		return err
	})
	return cmd
}

// readKey reads one line from standard input, prompting without echo when
// it is a terminal.
func (e *env) readKey(prompt string) (string, error) {
	if fd, isTerm := term.GetFdInfo(e.in); isTerm {
		fmt.Fprint(e.out, prompt)
		state, err := term.SaveState(fd)
		if err != nil {
			return "", err
		}
		if err := term.DisableEcho(fd, state); err != nil {
			return "", err
		}
		defer func() {
			_ = term.RestoreTerminal(fd, state)
			fmt.Fprintln(e.out)
		}()
	}
	line, err := bufio.NewReader(e.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	key := strings.TrimSpace(line)
	if key == "" {
		return "", errors.New("no unlock key given")
	}
	return key, nil
}

func newSwarmUnlockKeyCommand(e *env) *cobra.Command {
	var rotate, quiet bool
	cmd := &cobra.Command{
		Use:   "unlock-key [OPTIONS]",
		Short: "Manage the unlock key",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "Rotate unlock key")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display token")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		if rotate {
			sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
			if err != nil {
				return err
			}
			if !sw.Swarm.Spec.EncryptionConfig.AutoLockManagers {
				return errors.New("cannot rotate because autolock is not turned on")
			}
			if _, err := api.SwarmUpdate(ctx, client.SwarmUpdateOptions{
				Version: sw.Swarm.Version, Spec: sw.Swarm.Spec, RotateManagerUnlockKey: true,
			}); err != nil {
				return err
			}
			if !quiet {
				e.printf("Successfully rotated manager unlock key.\n\n")
			}
		}
		key, err := api.SwarmGetUnlockKey(ctx)
		if err != nil {
			return fmt.Errorf("could not fetch unlock key: %w", err)
		}
		if key.Key == "" {
			return errors.New("no unlock key is set")
		}
		if quiet {
			e.println(key.Key)
			return nil
		}
		e.printUnlockCommand(key.Key)
		return nil
	})
	return cmd
}
