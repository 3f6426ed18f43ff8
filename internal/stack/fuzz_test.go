package stack

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConvert loads and converts any compose file `docker stack
// deploy` could be given: seeded with every one-file case of
// testdata/convert, plus YAML that aliases itself into a huge document.
// It must not panic and must end (yaml's alias limits), and a stack it
// accepts converts to services or an error, never both nor neither.
func FuzzLoadConvert(f *testing.F) {
	files, err := filepath.Glob("testdata/convert/*/*.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("x: &a [1,1,1,1,1,1,1,1,1]\ny: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nz: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nservices:\n  w:\n    image: busybox\n    command: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"))
	f.Add([]byte("services:\n  w:\n    image: busybox\n    deploy:\n      replicas: 99999999999999999999\n"))
	f.Add([]byte("services:\n  w:\n    image: ${X:?must be set}\n"))
	f.Add([]byte("services: !!binary AAAA\n"))
	f.Fuzz(func(t *testing.T, compose []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "docker-compose.yml")
		if err := os.WriteFile(file, compose, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(t.Context(), LoadOptions{Files: []string{file}, Namespace: "stk"})
		if err != nil {
			return
		}
		s, err := Convert(p)
		if (s == nil) == (err == nil) {
			t.Fatalf("Convert: got stack %v and error %v", s, err)
		}
	})
}
