package stack

import (
	"testing"

	"go.yaml.in/yaml/v4"
)

// A syntax error is placed at the line where it broke, in the parser's
// own words, whichever form the YAML library gives it in.
func TestYAMLErrorLine(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		line      int
	}{
		{"a key out of line", "services:\n  web:\n    image: busybox\n   ports: [1]\n", 4},
		{"a quote never closed", "services:\n  web:\n    image: \"busybox\n    ports: [1]\n", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			err := yaml.Unmarshal([]byte(tt.src), &n)
			if err == nil {
				t.Fatal("no error")
			}
			if e := yamlError("bad.yml", err); e.Line != tt.line {
				t.Fatalf("%q placed at line %d (%v), want %d", err, e.Line, e, tt.line)
			}
		})
	}
}
