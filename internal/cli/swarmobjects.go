package cli

// The commands and helpers `secret` and `config` share: ls and rm,
// reading content, the --format templates of ls and inspect, and
// --pretty's labels.

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

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/shoal-project/shoal/internal/cli/format"
)

// newObjectListCommand is `ls` for swarm objects named what ("secrets"):
// list returns the rows for the filters given.
func newObjectListCommand(e *env, what, defaultTable string, header listHeader, list func(ctx context.Context, api *client.Client, f client.Filters) ([]any, error)) *cobra.Command {
	var (
		quiet         bool
		listFormat    string
		filterFlagVal []string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List " + what,
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
		rows, err := list(ctx, api, f)
		if err != nil {
			return err
		}
		return writeListing(e.out, listFormat, defaultTable, quiet, header, rows)
	})
	return cmd
}

// newObjectRemoveCommand is `rm` for swarm objects: it removes each one
// named, reporting every failure.
func newObjectRemoveCommand(e *env, arg, what string, remove func(ctx context.Context, api *client.Client, ref string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:     fmt.Sprintf("rm %s [%s...]", arg, arg),
		Aliases: []string{"remove"},
		Short:   "Remove one or more " + what,
		Args:    cobra.MinimumNArgs(1),
	}
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		return eachArg(args, func(ref string) error {
			if err := remove(ctx, api, ref); err != nil {
				return e.explain(err)
			}
			e.println(ref)
			return nil
		})
	})
	return cmd
}

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
