package opts

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/shoal-project/shoal/internal/cli/internal/golden"
	"github.com/spf13/pflag"
)

func networkProto(p string) network.IPProtocol { return network.IPProtocol(p) }

const separator = "----\n"

func resolveFixture(name string) (string, error) {
	ids := map[string]string{"backend": "netbackend000000000000000", "frontend": "netfrontend00000000000000"}
	if id, ok := ids[name]; ok {
		return id, nil
	}
	if strings.HasPrefix(name, "net") {
		return name, nil
	}
	return "", fmt.Errorf("network %s not found", name)
}

func lookupFixture(k string) (string, bool) {
	if k == "HOME" {
		return "/home/shoal", true
	}
	return "", false
}

// render is the expected-output half of a case: the spec as indented JSON, or
// the error.
func render(spec swarm.ServiceSpec, err error) string {
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	b, jerr := json.MarshalIndent(spec, "", "  ")
	if jerr != nil {
		return "error: " + jerr.Error() + "\n"
	}
	return string(b) + "\n"
}

// TestCreateSpecGolden runs each testdata/create/*.txt: the command line of
// `service create` (after "create"), a separator line, then the spec it must
// produce (or "error: ...").
func TestCreateSpecGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/create/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cmdline, _, _ := strings.Cut(string(data), separator)
			words, err := SplitShellWords(strings.TrimSpace(cmdline))
			if err != nil {
				t.Fatal(err)
			}
			got := render(createSpec(words))
			golden.Check(t, file, []byte(strings.TrimSpace(cmdline)+"\n"+separator+got))
		})
	}
}

func createSpec(words []string) (swarm.ServiceSpec, error) {
	o := NewService(lookupFixture)
	fs := pflag.NewFlagSet("create", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	o.AddCreateFlags(fs)
	if err := fs.Parse(words); err != nil {
		return swarm.ServiceSpec{}, err
	}
	if fs.NArg() == 0 {
		return swarm.ServiceSpec{}, fmt.Errorf("no image")
	}
	return o.Spec(fs.Arg(0), fs.Args()[1:], fs.Changed, resolveFixture)
}

// TestUpdateSpecGolden runs each testdata/update/*.txt: the command line of
// `service update` (without the service), the spec before, and the spec after
// (or "error: ..."), separated by separator lines.
func TestUpdateSpecGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/update/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.SplitN(string(data), separator, 3)
			if len(parts) < 2 {
				t.Fatalf("%s: want command line, spec before and spec after", file)
			}
			cmdline, before := strings.TrimSpace(parts[0]), parts[1]
			var spec swarm.ServiceSpec
			if err := json.Unmarshal([]byte(before), &spec); err != nil {
				t.Fatalf("spec before: %v", err)
			}
			words, err := SplitShellWords(cmdline)
			if err != nil {
				t.Fatal(err)
			}
			got := render(updateSpec(spec, words))
			golden.Check(t, file, []byte(cmdline+"\n"+separator+before+separator+got))
		})
	}
}

func updateSpec(spec swarm.ServiceSpec, words []string) (swarm.ServiceSpec, error) {
	o := NewService(lookupFixture)
	fs := pflag.NewFlagSet("update", pflag.ContinueOnError)
	o.AddUpdateFlags(fs)
	if err := fs.Parse(words); err != nil {
		return swarm.ServiceSpec{}, err
	}
	if o.Rollback {
		visit := func(fn func(string)) { fs.Visit(func(f *pflag.Flag) { fn(f.Name) }) }
		if err := OnlyRollbackFlags(visit); err != nil {
			return swarm.ServiceSpec{}, err
		}
	}
	err := o.Apply(&spec, fs.Changed, resolveFixture)
	return spec, err
}
