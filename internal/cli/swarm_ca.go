package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newSwarmCACommand(e *env) *cobra.Command {
	var (
		rotate, detach, quiet bool
		certFile, keyFile     string
		certExpiry            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ca [OPTIONS]",
		Short: "Display and rotate the root CA",
		Long: `Display the swarm's root CA certificate, or rotate it with --rotate.

A rotation replaces the root without downtime: the new root signs at once,
every node renews its certificate and then trusts the new root alone, and
the join tokens change to pin the new root. Without --ca-cert and --ca-key
a new root is made.`,
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.BoolVar(&rotate, "rotate", false, "Rotate the swarm CA - if no certificate or key are provided, new ones will be generated")
	fs.StringVar(&certFile, "ca-cert", "", "Path to the PEM-formatted root CA certificate to use for the new cluster")
	fs.StringVar(&keyFile, "ca-key", "", "Path to the PEM-formatted root CA key to use for the new cluster")
	fs.DurationVar(&certExpiry, "cert-expiry", 90*24*time.Hour, "Validity period for node certificates (ns|us|ms|s|m|h)")
	fs.BoolVarP(&detach, "detach", "d", false, "Exit immediately instead of waiting for the root rotation to converge")
	fs.BoolVarP(&quiet, "quiet", "q", false, "Suppress progress output")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, cmd *cobra.Command, _ []string) error {
		sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
		if err != nil {
			return err
		}
		if !rotate {
			for _, f := range []string{"ca-cert", "ca-key", "cert-expiry"} {
				if cmd.Flags().Changed(f) {
					return fmt.Errorf("--%s needs --rotate to change the root CA", f)
				}
			}
			return e.printTrustRoot(sw.Swarm)
		}
		if (certFile == "") != (keyFile == "") {
			return errors.New("--ca-cert and --ca-key go together: the swarm signs node certificates with the key")
		}
		spec := sw.Swarm.Spec
		if cmd.Flags().Changed("cert-expiry") {
			spec.CAConfig.NodeCertExpiry = certExpiry
		}
		if certFile != "" {
			cert, err := os.ReadFile(certFile)
			if err != nil {
				return err
			}
			key, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			spec.CAConfig.SigningCACert, spec.CAConfig.SigningCAKey = string(cert), string(key)
		} else {
			spec.CAConfig.ForceRotate++
		}
		if _, err := api.SwarmUpdate(ctx, client.SwarmUpdateOptions{Version: sw.Swarm.Version, Spec: spec}); err != nil {
			return err
		}
		if detach {
			e.println("Root CA rotation started; `shoal swarm ca` shows the root in use.")
			return nil
		}
		done, err := e.waitRootRotation(ctx, api, quiet)
		if err != nil || !done {
			return err
		}
		sw, err = api.SwarmInspect(ctx, client.SwarmInspectOptions{})
		if err != nil {
			return err
		}
		return e.printTrustRoot(sw.Swarm)
	})
	return cmd
}

func (e *env) printTrustRoot(sw swarm.Swarm) error {
	root := strings.TrimSpace(sw.ClusterInfo.TLSInfo.TrustRoot)
	if root == "" {
		return errors.New("the swarm reports no root CA")
	}
	e.println(root)
	return nil
}

// waitRootRotation prints the rotation's progress each time it moves, and
// returns once every node holds a certificate of the new root and trusts
// it alone (true), or when interrupted (false: it goes on in the
// background).
func (e *env) waitRootRotation(ctx context.Context, api *client.Client, quiet bool) (bool, error) {
	interrupt, stop := e.interrupt()
	defer stop()
	var last rotationProgress
	for first := true; ; first = false {
		sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
		if err != nil {
			return false, err
		}
		nodes, err := api.NodeList(ctx, client.NodeListOptions{})
		if err != nil {
			return false, err
		}
		p := progressOf(sw.Swarm.ClusterInfo, nodes.Items)
		if !quiet && (first || p != last) {
			e.println(p)
		}
		last = p
		if p.done() {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-interrupt:
			e.println("The rotation goes on in the background; `shoal swarm ca` shows the root in use.")
			return false, nil
		case <-e.clock.After(200 * time.Millisecond):
		}
	}
}

// rotationProgress counts, of the nodes that are not down, those that
// hold a certificate from the issuer the swarm wants and those that trust
// exactly its roots.
type rotationProgress struct {
	renewed, trusting, nodes, down int
	inProgress                     bool
}

// progressOf compares each node's reported TLS state with the swarm's, as
// the docker CLI's progress does — except that nodes that are down are
// counted apart: the rotation does not wait for them (they must rejoin),
// so neither does the command.
func progressOf(c swarm.ClusterInfo, nodes []swarm.Node) rotationProgress {
	p := rotationProgress{inProgress: c.RootRotationInProgress}
	for _, n := range nodes {
		if n.Status.State == swarm.NodeStateDown {
			p.down++
			continue
		}
		p.nodes++
		got := n.Description.TLSInfo
		if bytes.Equal(got.CertIssuerSubject, c.TLSInfo.CertIssuerSubject) && bytes.Equal(got.CertIssuerPublicKey, c.TLSInfo.CertIssuerPublicKey) {
			p.renewed++
		}
		if !c.RootRotationInProgress && got.TrustRoot == c.TLSInfo.TrustRoot {
			p.trusting++
		}
	}
	return p
}

func (p rotationProgress) done() bool {
	return !p.inProgress && p.renewed == p.nodes && p.trusting == p.nodes
}

func (p rotationProgress) String() string {
	var s string
	switch {
	case p.done():
		s = fmt.Sprintf("Root CA rotated: the new root alone is trusted by %s.", plural(p.nodes, "node"))
	case p.inProgress:
		s = fmt.Sprintf("Rotating the root CA: %d of %s renewed from the new root.", p.renewed, plural(p.nodes, "node"))
	default:
		s = fmt.Sprintf("Rotating the root CA: the new root alone is trusted by %d of %s.", p.trusting, plural(p.nodes, "node"))
	}
	switch {
	case p.down == 1:
		s += " 1 node is down: it must rejoin with a new token."
	case p.down > 1:
		s += fmt.Sprintf(" %d nodes are down: they must rejoin with a new token.", p.down)
	}
	return s
}
