package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/shoal-project/shoal/internal/cli/format"
	"github.com/shoal-project/shoal/internal/cli/opts"
	"github.com/spf13/cobra"
)

// maxSecretSize is the daemon's limit on a secret's data (SwarmKit's). The
// CLI reads up to twice as much so that the daemon, not the CLI, says no.
const maxSecretSize = 500 * 1024

func newSecretCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Manage swarm secrets", Args: cobra.NoArgs}
	cmd.AddCommand(
		newSecretCreateCommand(e),
		newSecretListCommand(e),
		newSecretInspectCommand(e),
		newSecretRemoveCommand(e),
	)
	return cmd
}

func newSecretCreateCommand(e *env) *cobra.Command {
	labels := opts.NewList(opts.LabelValidator)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] SECRET [file|-]",
		Short: "Create a secret from a file or STDIN as content",
		Args:  cobra.RangeArgs(1, 2),
	}
	cmd.Flags().VarP(labels, "label", "l", "Secret labels")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		// The file is optional in docker's usage only for secret drivers,
		// which Shoal's daemon refuses.
		if len(args) < 2 {
			return errors.New("secret file is required")
		}
		data, err := readObjectData(e.in, args[1], maxSecretSize)
		if err != nil {
			return err
		}
		res, err := api.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{
			Annotations: swarm.Annotations{Name: args[0], Labels: opts.KVMap(labels.Values)},
			Data:        data,
		}})
		if err != nil {
			return err
		}
		e.println(res.ID)
		return nil
	})
	return cmd
}

// secretRow is a secret as `secret ls --format` templates see it. The
// exported fields are in alphabetical order so that "json" prints them in
// docker's order.
type secretRow struct {
	CreatedAt, Driver, ID, Labels, Name, UpdatedAt string

	labels map[string]string
}

// Label is the value of one label, for {{.Label "key"}}.
func (r secretRow) Label(key string) string { return r.labels[key] }

var secretHeader = listHeader{"ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED", "Labels": "LABELS"}

const secretTable = `table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}`

// secretRows renders secrets for `secret ls`, ordered by name.
func secretRows(secrets []swarm.Secret, now time.Time) []any {
	slices.SortStableFunc(secrets, func(a, b swarm.Secret) int { return naturalCmp(a.Spec.Name, b.Spec.Name) })
	rows := make([]any, 0, len(secrets))
	for _, s := range secrets {
		r := secretRow{
			ID: s.ID, Name: s.Spec.Name, Labels: joinLabels(s.Spec.Labels), labels: s.Spec.Labels,
			CreatedAt: format.AgoCapitalized(s.CreatedAt, now), UpdatedAt: format.AgoCapitalized(s.UpdatedAt, now),
		}
		if s.Spec.Driver != nil {
			r.Driver = s.Spec.Driver.Name
		}
		rows = append(rows, r)
	}
	return rows
}

func newSecretListCommand(e *env) *cobra.Command {
	return newObjectListCommand(e, "secrets", secretTable, secretHeader, func(ctx context.Context, api *client.Client, f client.Filters) ([]any, error) {
		res, err := api.SecretList(ctx, client.SecretListOptions{Filters: f})
		return secretRows(res.Items, e.clock.Now()), err
	})
}

// getSecret fetches a secret for inspect. Should a daemon send a secret's
// data, it is dropped here: inspect never shows it.
func getSecret(ctx context.Context, api *client.Client, ref string) (swarm.Secret, []byte, error) {
	res, err := api.SecretInspect(ctx, ref, client.SecretInspectOptions{})
	if err != nil {
		return swarm.Secret{}, nil, err
	}
	if res.Secret.Spec.Data == nil {
		return res.Secret, res.Raw, nil
	}
	res.Secret.Spec.Data = nil
	raw, err := json.Marshal(res.Secret)
	return res.Secret, raw, err
}

func newSecretInspectCommand(e *env) *cobra.Command {
	var (
		pretty        bool
		inspectFormat string
	)
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] SECRET [SECRET...]",
		Short: "Display detailed information on one or more secrets",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().StringVarP(&inspectFormat, "format", "f", "", inspectFormatHelp)
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		usePretty, err := wantsPretty(pretty, inspectFormat)
		if err != nil {
			return err
		}
		if !usePretty {
			return e.inspectObjects(inspectFormat, args, func(ref string) (any, []byte, error) {
				return getSecret(ctx, api, ref)
			})
		}
		var out bytes.Buffer
		for _, ref := range args {
			s, _, err := getSecret(ctx, api, ref)
			if err != nil {
				return err
			}
			secretPretty(&out, s)
		}
		_, err = out.WriteTo(e.out)
		return err
	})
	return cmd
}

// secretPretty writes `secret inspect --pretty` for one secret, spaced as
// docker spaces it.
func secretPretty(w io.Writer, s swarm.Secret) {
	fmt.Fprintf(w, "ID:              %s\n", s.ID)
	fmt.Fprintf(w, "Name:              %s\n", s.Spec.Name)
	writePrettyLabels(w, s.Spec.Labels)
	driver := ""
	if s.Spec.Driver != nil {
		driver = s.Spec.Driver.Name
	}
	fmt.Fprintf(w, "Driver:            %s\n", driver)
	fmt.Fprintf(w, "Created at:        %s\n", prettyTime(s.CreatedAt))
	fmt.Fprintf(w, "Updated at:        %s\n", prettyTime(s.UpdatedAt))
}

func newSecretRemoveCommand(e *env) *cobra.Command {
	return newObjectRemoveCommand(e, "SECRET", "secrets", func(ctx context.Context, api *client.Client, ref string) error {
		_, err := api.SecretRemove(ctx, ref, client.SecretRemoveOptions{})
		return err
	})
}
