package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
	"text/template"
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
	var (
		quiet         bool
		listFormat    string
		filterFlagVal []string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List secrets",
		Args:    cobra.NoArgs,
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&listFormat, "format", "", listFormatHelp)
	cmd.Flags().StringArrayVarP(&filterFlagVal, "filter", "f", nil, "Filter output based on conditions provided")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, _ []string) error {
		f, err := parseFilters(filterFlagVal)
		if err != nil {
			return err
		}
		res, err := api.SecretList(ctx, client.SecretListOptions{Filters: f})
		if err != nil {
			return err
		}
		return writeListing(e.out, listFormat, secretTable, quiet, secretHeader, secretRows(res.Items, e.clock.Now()))
	})
	return cmd
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
	cmd := &cobra.Command{
		Use:     "rm SECRET [SECRET...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more secrets",
		Args:    cobra.MinimumNArgs(1),
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		return eachArg(args, func(arg string) error {
			if _, err := api.SecretRemove(ctx, arg, client.SecretRemoveOptions{}); err != nil {
				return e.explain(err)
			}
			e.println(arg)
			return nil
		})
	})
	return cmd
}

// What follows serves `config` as well as `secret`: reading content, the
// --format templates of ls and inspect, and --pretty's labels.

const (
	listFormatHelp = "Format output using a custom template:\n" +
		"'table':            Print output in table format with column headers (default)\n" +
		"'table TEMPLATE':   Print output in table format using the given Go template\n" +
		"'json':             Print in JSON format\n" +
		"'TEMPLATE':         Print output using the given Go template."
	inspectFormatHelp = "Format output using a custom template:\n" +
		"'json':             Print in JSON format\n" +
		"'TEMPLATE':         Print output using the given Go template."
)

// readObjectData reads a secret's or config's content from file, or from
// in when file is "-": at most twice maxSize bytes, and never nothing.
func readObjectData(in io.Reader, file string, maxSize int64) ([]byte, error) {
	src := "STDIN"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("error reading from %s: %w", file, err)
		}
		defer f.Close()
		in, src = f, file
	}
	data, err := io.ReadAll(io.LimitReader(in, 2*maxSize))
	if err != nil {
		return nil, fmt.Errorf("error reading from %s: %w", src, err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("error reading from %s: data is empty", src)
	}
	return data, nil
}

// listHeader maps a listing row's field names to column headers; the table
// template runs over it once to print the header line.
type listHeader map[string]string

// Label heads a {{.Label "key"}} column with the key's last dotted part.
func (listHeader) Label(key string) string {
	parts := strings.Split(key, ".")
	return strings.NewReplacer("-", " ", "_", " ").Replace(parts[len(parts)-1])
}

// writeListing prints rows as an ls --format value asks, read as docker
// reads it: "" or "table" (defaultTable, or IDs alone when quiet), "table
// TEMPLATE" (a tab-aligned table under a header), "json" (one object a
// line) or a bare TEMPLATE (one line per row).
func writeListing(w io.Writer, listFormat, defaultTable string, quiet bool, header listHeader, rows []any) error {
	switch listFormat {
	case "", "table":
		listFormat = defaultTable
		if quiet {
			listFormat = "{{.ID}}"
		}
	case "json":
		listFormat = "{{json .}}"
	}
	text, isTable := strings.CutPrefix(listFormat, "table")
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(text, " "))
	tmpl, err := parseTemplate(text)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	for _, r := range rows {
		if err := tmpl.Execute(&body, r); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		body.WriteByte('\n')
	}
	if !isTable {
		_, err := body.WriteTo(w)
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if err := tmpl.Funcs(headerFuncs).Execute(tw, header); err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	if _, err := io.WriteString(tw, "\n"); err != nil {
		return err
	}
	if _, err := body.WriteTo(tw); err != nil {
		return err
	}
	return tw.Flush()
}

// wantsPretty says whether inspect prints its human format: --pretty wins
// over --format, and "pretty" takes no further template.
func wantsPretty(pretty bool, inspectFormat string) (bool, error) {
	if pretty || inspectFormat == "pretty" {
		return true, nil
	}
	if strings.HasPrefix(inspectFormat, "pretty") {
		return false, errors.New("cannot supply extra formatting options to the pretty template")
	}
	return false, nil
}

// inspectObjects prints what inspect prints without --pretty: the objects'
// JSON as an indented array (no format) or a compact one ("json"), or a
// template run on each object, and on its raw JSON when the typed object
// lacks a field the template names. Like docker, it goes on past objects it
// cannot get, prints what it got, then returns every error.
func (e *env) inspectObjects(inspectFormat string, refs []string, get func(ref string) (typed any, raw []byte, err error)) error {
	var tmpl *template.Template
	if inspectFormat != "" && inspectFormat != "json" {
		var err error
		if tmpl, err = parseTemplate(inspectFormat); err != nil {
			return err
		}
	}
	var (
		errs []error
		raws []json.RawMessage
		out  bytes.Buffer
	)
	for _, ref := range refs {
		typed, raw, err := get(ref)
		if err != nil {
			errs = append(errs, e.explain(err))
			continue
		}
		if tmpl == nil {
			raws = append(raws, raw)
			continue
		}
		if err := executeInspect(&out, tmpl, typed, raw); err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	switch {
	case inspectFormat == "":
		err = writeInspect(e.out, raws)
	case tmpl == nil:
		err = writeCompactInspect(e.out, raws)
	case out.Len() == 0:
		e.println()
	default:
		_, err = out.WriteTo(e.out)
	}
	return errors.Join(append(errs, err)...)
}

func executeInspect(w *bytes.Buffer, tmpl *template.Template, typed any, raw []byte) error {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, typed); err != nil {
		var generic any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&generic); err != nil {
			return fmt.Errorf("unable to read inspect data: %w", err)
		}
		b.Reset()
		if err := tmpl.Option("missingkey=error").Execute(&b, generic); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
	}
	b.WriteByte('\n')
	_, err := b.WriteTo(w)
	return err
}

func writeCompactInspect(w io.Writer, raws []json.RawMessage) error {
	if raws == nil {
		raws = []json.RawMessage{}
	}
	joined, err := json.Marshal(raws)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, joined); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = out.WriteTo(w)
	return err
}

// writePrettyLabels writes the Labels block of inspect --pretty, keys in
// order, a label without a value as its key alone.
func writePrettyLabels(w io.Writer, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	fmt.Fprintln(w, "Labels:")
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if v := labels[k]; v != "" {
			fmt.Fprintf(w, " - %s=%s\n", k, v)
		} else {
			fmt.Fprintf(w, " - %s\n", k)
		}
	}
}

// prettyTime is a time as inspect --pretty shows it: docker lower-cases
// all but the first letter of the value ("2026-03-01 10:00:00 +0000 utc").
func prettyTime(t time.Time) string { return strings.ToLower(t.String()) }

// joinLabels is the LABELS cell: key=value pairs in order, comma-separated.
func joinLabels(labels map[string]string) string {
	pairs := make([]string, 0, len(labels))
	for k, v := range labels {
		pairs = append(pairs, k+"="+v)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

func naturalCmp(a, b string) int {
	switch {
	case format.NaturalLess(a, b):
		return -1
	case format.NaturalLess(b, a):
		return 1
	}
	return 0
}

func parseTemplate(text string) (*template.Template, error) {
	tmpl, err := template.New("").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return tmpl, nil
}

// templateFuncs are the functions docker's --format templates offer.
var templateFuncs = template.FuncMap{
	"json":     templateJSON,
	"split":    strings.Split,
	"join":     templateJoin,
	"title":    titleWords,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      templatePad,
	"truncate": templateTruncate,
}

// headerFuncs stand in for templateFuncs while a table's header prints:
// a header cell is the column's name, whatever the rows make of its value.
var headerFuncs = template.FuncMap{
	"json":     func(v string) string { return v },
	"split":    func(v, _ string) string { return v },
	"join":     func(v, _ string) string { return v },
	"title":    func(v string) string { return v },
	"lower":    func(v string) string { return v },
	"upper":    func(v string) string { return v },
	"truncate": func(v string, _ int) string { return v },
}

func templateJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// templateJoin joins a list's elements, or a map's values in order.
func templateJoin(v any, sep string) (string, error) {
	if v == nil {
		return "", nil
	}
	var parts []string
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			parts = append(parts, fmt.Sprint(rv.Index(i).Interface()))
		}
	case reflect.Map:
		for _, k := range rv.MapKeys() {
			parts = append(parts, fmt.Sprint(rv.MapIndex(k).Interface()))
		}
		slices.Sort(parts)
	default:
		return "", fmt.Errorf("expected slice, got %T", v)
	}
	return strings.Join(parts, sep), nil
}

func titleWords(s string) string {
	words := strings.Split(s, " ")
	for i, w := range words {
		words[i] = format.Capitalize(w)
	}
	return strings.Join(words, " ")
}

func templatePad(s string, before, after int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", before) + s + strings.Repeat(" ", after)
}

func templateTruncate(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}
