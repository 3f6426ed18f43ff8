package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/shoal-project/shoal/internal/atomicfile"
	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/internal/backup"
)

func newSwarmBackupCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a backup of the swarm's state to FILE (- for standard output)",
		Long: `Write a backup of the swarm's state, as the manager this command talks to
holds it, to FILE: services, tasks, nodes, networks, secrets, configs, the
join tokens and the root CA. The manager keeps serving while it is taken.

The backup is encrypted as a manager keeps its state at rest: with the
swarm's unlock key when the swarm is autolocked (restoring it then needs
that key, as it is now), otherwise with a key kept in the file, which makes
it as sensitive as a manager's data root. Restore it with
'shoal swarm restore' on a node in no swarm (docs/BACKUP.md).`,
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		resp, err := shoalRequest(ctx, api, http.MethodGet, "/shoal/swarm/backup", nil, nil, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("read the backup: %w", err)
		}
		h, err := backup.ReadHeader(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("the daemon sent no backup: %w", err)
		}
		msgOut := e.out
		if args[0] == "-" {
			if _, err := e.out.Write(data); err != nil {
				return err
			}
			msgOut = e.errOut
		} else if err := atomicfile.Write(args[0], data, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(msgOut, "Backup of swarm %s at raft index %d taken on node %s, %s.\n", h.ClusterID, h.Index, h.TakenOn, sizeOf(len(data)))
		if h.Autolocked {
			fmt.Fprintln(msgOut, "The swarm is autolocked: restoring this backup needs its unlock key as it is now (docker swarm unlock-key).")
		} else {
			fmt.Fprintln(msgOut, "It holds the key to the secrets in it: keep it as safe as a manager's data root.")
		}
		return nil
	})
	return cmd
}

func newSwarmRestoreCommand(e *env) *cobra.Command {
	var (
		listen, advertise, dataPath, availability, unlockKey string
	)
	cmd := &cobra.Command{
		Use:   "restore [OPTIONS] FILE",
		Short: "Make this node the only manager of the swarm of a backup",
		Long: `Restore a backup written by 'shoal swarm backup' on a node in no swarm:
the node becomes the only manager of the swarm of the backup, as
'docker swarm init --force-new-cluster' makes the last manager standing,
with its services, secrets, configs, networks, join tokens and root CA.
The node gets a new node ID and certificate; the nodes of the backup are
marked down and its managers demoted. Add managers and workers with the
swarm's join tokens. A backup of an autolocked swarm needs the swarm's
unlock key of when it was taken (prompted for when not given), and the
restored swarm stays autolocked with it.`,
		Args: cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	fs.StringVar(&listen, "listen-addr", "0.0.0.0:2377", "Listen address (format: <ip|interface>[:port])")
	fs.StringVar(&advertise, "advertise-addr", "", "Advertised address (format: <ip|interface>[:port])")
	fs.StringVar(&dataPath, "data-path-addr", "", "Address or interface to use for data path traffic (format: <ip|interface>)")
	fs.StringVar(&availability, "availability", "active", `Availability of the node ("active", "pause", "drain")`)
	fs.StringVar(&unlockKey, "unlock-key", "", "The swarm's unlock key, for a backup of an autolocked swarm (prompted for when needed and not given)")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		h, err := backup.ReadHeader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		if h.Autolocked && unlockKey == "" {
			if unlockKey, err = e.readKey("Enter the swarm's unlock key: "); err != nil {
				return err
			}
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range map[string]string{"listenAddr": listen, "advertiseAddr": advertise, "dataPathAddr": dataPath, "availability": availability} {
			if v != "" {
				q.Set(k, v)
			}
		}
		header := http.Header{"Content-Type": {"application/octet-stream"}}
		if unlockKey != "" {
			header.Set(backup.UnlockKeyHeader, strings.TrimSpace(unlockKey))
		}
		resp, err := shoalRequest(ctx, api, http.MethodPost, "/shoal/swarm/restore", q, header, f)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var nodeID string
		if err := json.NewDecoder(resp.Body).Decode(&nodeID); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		e.printf("Swarm %s restored from the backup taken at raft index %d on %s: this node (%s) is its only manager.\n",
			h.ClusterID, h.Index, h.TakenAt.Local().Format(time.DateTime), nodeID)
		e.printf("The nodes of the backup are down; add managers and workers with 'docker swarm join-token manager|worker' (the backup's tokens still work).\n")
		return nil
	})
	return cmd
}

// shoalRequest calls one of Shoal's own endpoints, which the Docker client
// does not know, over the client's own connection to the daemon (TLS
// included), and turns an error answer into an error.
func shoalRequest(ctx context.Context, api *client.Client, method, path string, query url.Values, header http.Header, body io.Reader) (*http.Response, error) {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return api.Dialer()(ctx) },
	}}
	if v := api.ClientVersion(); v != "" {
		path = "/v" + v + path
	}
	u := url.URL{Scheme: "http", Host: "shoal", Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct{ Message string }
		if json.Unmarshal(msg, &e) == nil && e.Message != "" {
			return nil, errors.New(e.Message)
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

func sizeOf(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
