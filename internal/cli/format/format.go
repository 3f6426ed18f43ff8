// Package format renders what the shoal CLI prints — tables, IDs, ages, sizes and
// the task, node, service and image listings — the way the docker CLI prints them,
// as pure functions of the API objects and "now".
package format

import (
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docker/go-units"
)

// Table writes header and rows as docker's CLI does: columns separated by at
// least three spaces, each at least ten characters wide except the last.
func Table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if header != nil {
		if _, err := io.WriteString(tw, strings.Join(header, "\t")+"\n"); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if _, err := io.WriteString(tw, strings.Join(r, "\t")+"\n"); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// TruncateID shortens an object ID to the 12 characters docker shows, dropping
// a digest algorithm prefix such as "sha256:".
func TruncateID(id string) string {
	if _, after, ok := strings.Cut(id, ":"); ok {
		id = after
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Ellipsis cuts s to at most max characters, ending a cut string with "…".
func Ellipsis(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// Capitalize upper-cases the first letter, as docker shows states ("running" →
// "Running").
func Capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// Ago says how long before now t was, in docker's words: "5 seconds ago",
// "about a minute ago", "2 hours ago".
func Ago(t, now time.Time) string {
	return strings.ToLower(units.HumanDuration(now.Sub(t))) + " ago"
}

// AgoCapitalized is Ago as docker's inspect output writes it ("About a minute ago").
func AgoCapitalized(t, now time.Time) string {
	return units.HumanDuration(now.Sub(t)) + " ago"
}

// StateSince is a task's CURRENT STATE cell: "Running 5 seconds ago".
func StateSince(state string, since, now time.Time) string {
	return Capitalize(state) + " " + Ago(since, now)
}

// Size renders a byte count as docker's image listing does ("4.26MB").
func Size(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3)
}

// BinarySize renders a byte count in powers of 1024 ("1.5GiB"), as docker's
// inspect --pretty shows memory.
func BinarySize(n int64) string {
	return units.BytesSize(float64(n))
}

// NaturalLess orders strings so that embedded numbers compare by value:
// "web.2" sorts before "web.10".
func NaturalLess(a, b string) bool {
	for a != "" && b != "" {
		ca, cb := a[0], b[0]
		if isDigit(ca) && isDigit(cb) {
			na, ra := leadingDigits(a)
			nb, rb := leadingDigits(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			a, b = ra, rb
			continue
		}
		if ca != cb {
			return ca < cb
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
