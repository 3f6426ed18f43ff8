package stack

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// Error is a compose file refused before anything is created: which file,
// where in it, and what is wrong.
type Error struct {
	File string // as given on the command line; "" when no file can be named
	Line int    // 0 when unknown
	// Path is the key path, dotted, with list indexes ("services.web.ports.0").
	Path string
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(displayPath(e.File))
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// fileIndex holds each file's YAML tree to find where a key path is written.
type fileIndex struct {
	files []string
	roots []*yaml.Node
	env   map[string]string
}

// indexFiles parses every file, so that a file missing or not YAML is
// refused with its own name and line.
func indexFiles(files []string) (*fileIndex, error) {
	ix := &fileIndex{}
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, &Error{File: f, Err: errors.Unwrap(err)})
			continue
		}
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil {
			errs = append(errs, yamlError(f, err))
			continue
		}
		ix.files = append(ix.files, f)
		ix.roots = append(ix.roots, &root)
	}
	return ix, errors.Join(errs...)
}

var (
	yamlLine = regexp.MustCompile(`line (\d+)`)
	yamlSpan = regexp.MustCompile(`\(([^)]*)\) at L(\d+)\.C\d+(?:-L(\d+)\.C\d+)?: (.*)$`)
)

// yamlError places a YAML syntax error at the last line its message names
// (the parser names where a construct began, then where it broke), and
// keeps the message without its line numbers, which the parser counts from
// 0 ("while parsing a block mapping at line 1") where the scanner counts
// from 1 ("while scanning a quoted scalar at line 2").
func yamlError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Err: fmt.Errorf("invalid YAML: %s", msg)}
	if m := yamlSpan.FindStringSubmatch(msg); m != nil {
		// go-yaml v4's form names the construct and its span, lines
		// counted from 1.
		construct, at, problem := m[1], m[3], m[4]
		if at == "" {
			at = m[2]
		}
		if problem == "found unexpected end of stream" {
			at = m[2]
			problem = strings.TrimPrefix(construct, "while scanning ") + " that is never closed"
		}
		e.Line, _ = strconv.Atoi(at)
		e.Err = fmt.Errorf("invalid YAML: %s", problem)
		return e
	}
	m := yamlLine.FindAllStringSubmatch(msg, -1)
	if m == nil {
		return e
	}
	problem := msg
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		problem = msg[i+2:]
	}
	// What never ends (a quote, a bracket) is best shown where it begins.
	at := m[len(m)-1][1]
	if problem == "found unexpected end of stream" {
		at = m[0][1]
		problem = strings.TrimPrefix(strings.SplitN(msg, " at line", 2)[0], "while scanning ") + " that is never closed"
	}
	e.Line, _ = strconv.Atoi(at)
	if strings.HasPrefix(msg, "while parsing") {
		e.Line++
	}
	e.Err = fmt.Errorf("invalid YAML: %s", problem)
	return e
}

// at returns err placed at path in the last file that writes it (the one
// whose value won the merge), or at the deepest part of it a file writes.
func (ix *fileIndex) at(path []string, err error) *Error {
	e := &Error{Path: strings.Join(path, "."), Err: err}
	best := -1
	for i := len(ix.roots) - 1; i >= 0; i-- {
		depth, line := find(ix.roots[i], path)
		if depth > best {
			best, e.File, e.Line = depth, ix.files[i], line
		}
		if depth == len(path) {
			break
		}
	}
	if best <= 0 && len(ix.files) > 1 {
		e.File, e.Line = "", 0
	}
	return e
}

// find walks path down a YAML tree and returns how many of its parts it
// found and the line of the deepest.
func find(n *yaml.Node, path []string) (depth, line int) {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, part := range path {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					line, next = n.Content[i].Line, n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(part); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			return depth, line
		}
		n, depth = next, depth+1
	}
	return depth, line
}

// The loader's errors, and where each says the problem is.
var (
	reValidating  = regexp.MustCompile(`^validating (.+?): (\S+) (.*)$`)
	reInterpolate = regexp.MustCompile(`^error while interpolating (\S+): (.*)$`)
	reDecoding    = regexp.MustCompile(`(?s)^decoding failed due to the following error\(s\):\s*'([^']*)' (.*)$`)
	reUndefined   = regexp.MustCompile(`^service "([^"]+)" refers to undefined (network|volume|secret|config) (\S+?)(?:: invalid compose project)?$`)
	reDependsOn   = regexp.MustCompile(`^service "([^"]+)" depends on undefined service "?([^":]+)"?(?:: invalid compose project)?$`)
	reService     = regexp.MustCompile(`^service "?([^" ]+)"? (.*?)(?:: invalid compose project)?$`)
	reParse       = regexp.MustCompile(`(?s)^failed to parse (.+?): (yaml: .*)$`)
	reBracket     = regexp.MustCompile(`\[([^\]]+)\]`)
)

// explain turns an error of the compose loader into an *Error naming the
// file, the key path and what is wrong, where the message lets it.
func (ix *fileIndex) explain(err error) error {
	msg := err.Error()
	split := func(p string) []string {
		return strings.Split(reBracket.ReplaceAllString(p, ".$1"), ".")
	}
	if m := reParse.FindStringSubmatch(msg); m != nil {
		return yamlError(m[1], errors.New(m[2]))
	}
	if m := reValidating.FindStringSubmatch(msg); m != nil {
		path, what := split(m[2]), m[3]
		if keys, ok := strings.CutPrefix(what, "additional properties "); ok {
			keys = strings.TrimSuffix(keys, " not allowed")
			if key := strings.Trim(keys, "'"); !strings.Contains(keys, ",") {
				path, what = append(path, key), "false schema"
			} else {
				what = "unknown keys " + keys + ": the compose file format has no such keys here"
			}
		}
		switch {
		case what == "false schema":
			what = "unknown key: the compose file format has no " + strconv.Quote(path[len(path)-1]) + " here"
		case what == "must be a array":
			what = "must be a list"
		}
		e := ix.at(path, errors.New(what))
		if e.File == "" {
			e.File = m[1]
		}
		return e
	}
	if m := reInterpolate.FindStringSubmatch(msg); m != nil {
		return ix.at(split(m[1]), errors.New(castError(m[2])))
	}
	if m := reDecoding.FindStringSubmatch(msg); m != nil {
		return ix.at(split(m[1]), errors.New(strings.TrimPrefix(strings.TrimSpace(m[2]), "time: ")))
	}
	if m := reUndefined.FindStringSubmatch(msg); m != nil {
		return ix.at([]string{"services", m[1], m[2] + "s"}, fmt.Errorf("undefined %s %q", m[2], m[3]))
	}
	if m := reDependsOn.FindStringSubmatch(msg); m != nil {
		return ix.at([]string{"services", m[1], "depends_on"}, fmt.Errorf("depends on undefined service %q", m[2]))
	}
	if e := ix.diagnosePorts(); e != nil {
		return e
	}
	if m := reService.FindStringSubmatch(msg); m != nil {
		return ix.at([]string{"services", m[1]}, errors.New(m[2]))
	}
	if len(ix.files) == 1 {
		return &Error{File: ix.files[0], Err: err}
	}
	return err
}

var reCast = regexp.MustCompile(`^failed to cast to expected type: strconv.(Atoi|ParseInt|ParseUint|ParseFloat|ParseBool): parsing ("[^"]*"): .*$`)

// castError says what a value interpolated into a typed key should be.
func castError(msg string) string {
	m := reCast.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	switch m[1] {
	case "ParseFloat":
		return "must be a number, got " + m[2]
	case "ParseBool":
		return "must be true or false, got " + m[2]
	}
	return "must be a whole number, got " + m[2]
}

// diagnosePorts finds the short-syntax port that the loader could not
// parse (its error names no service): it parses each one as the loader does.
func (ix *fileIndex) diagnosePorts() *Error {
	lookup := func(k string) (string, bool) { v, ok := ix.env[k]; return v, ok }
	for i, root := range ix.roots {
		doc := root
		if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
			doc = doc.Content[0]
		}
		services := child(doc, "services")
		if services == nil || services.Kind != yaml.MappingNode {
			continue
		}
		for s := 0; s+1 < len(services.Content); s += 2 {
			name := services.Content[s].Value
			ports := child(services.Content[s+1], "ports")
			if ports == nil || ports.Kind != yaml.SequenceNode {
				continue
			}
			for p, port := range ports.Content {
				if port.Kind != yaml.ScalarNode {
					continue
				}
				value, err := template.Substitute(port.Value, lookup)
				if err != nil {
					continue
				}
				if _, err := types.ParsePortConfig(value); err != nil {
					return &Error{File: ix.files[i], Line: port.Line, Path: fmt.Sprintf("services.%s.ports.%d", name, p),
						Err: fmt.Errorf("invalid port %q: %w", port.Value, err)}
				}
			}
		}
	}
	return nil
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
