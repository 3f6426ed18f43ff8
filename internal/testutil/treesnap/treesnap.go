// Package treesnap describes a directory tree in a string for tests that
// must show nothing was written outside a root: the fuzz tests of
// extraction into a root.
package treesnap

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Of describes every file under base except those under skip: name,
// mode, content and link count (a hard link made inside the root to a
// file outside shows only there), so that any write shows.
func Of(t testing.TB, base, skip string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if p == skip {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(p + " " + fi.Mode().String())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			b.WriteString(" " + string(data))
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(&b, " links=%d", st.Nlink)
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}
