package converge

import (
	"fmt"
	"io"
	"strings"
)

// Display draws converge updates. On a terminal the lines keyed by ID are
// redrawn in place (ANSI cursor-up), with progress bars when the terminal is
// wider than 110 columns; elsewhere a line is printed, without bar, each
// time its text changes.
type Display struct {
	w     io.Writer
	tty   bool
	width int

	order []string          // IDs of the current block, in first-seen order
	lines map[string]Update // guarded by nothing: one goroutine draws
	shown map[string]string // what each line last printed (plain mode)
	drawn int               // lines of the current block on screen (tty)
}

// NewDisplay returns a Display writing to w; tty says whether w is a terminal
// and width is its width in columns.
func NewDisplay(w io.Writer, tty bool, width int) *Display {
	return &Display{w: w, tty: tty, width: width, lines: map[string]Update{}, shown: map[string]string{}}
}

// Show applies updates, in order, and draws what changed.
func (d *Display) Show(updates []Update) error {
	dirty := false
	for _, u := range updates {
		if u.ID == "" {
			if d.tty && dirty {
				if err := d.redraw(); err != nil {
					return err
				}
				dirty = false
			}
			if err := d.message(u.Text); err != nil {
				return err
			}
			continue
		}
		if !d.tty {
			// Blank placeholders only reserve a terminal line for later.
			if strings.TrimSpace(u.Text) == "" {
				continue
			}
			text := RenderLine(u, 0)
			if d.shown[u.ID] != text {
				d.shown[u.ID] = text
				if _, err := fmt.Fprintln(d.w, text); err != nil {
					return err
				}
			}
			continue
		}
		old, seen := d.lines[u.ID]
		if !seen {
			d.order = append(d.order, u.ID)
		}
		if !seen || old != u {
			d.lines[u.ID] = u
			dirty = true
		}
	}
	if d.tty && dirty {
		return d.redraw()
	}
	return nil
}

// message prints a line outside the block of keyed lines; on a terminal the
// next keyed lines start a new block under it, as docker's do.
func (d *Display) message(text string) error {
	if _, err := fmt.Fprintln(d.w, text); err != nil {
		return err
	}
	if d.tty {
		d.order, d.lines, d.drawn = nil, map[string]Update{}, 0
	}
	return nil
}

func (d *Display) redraw() error {
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.drawn)
	}
	for _, id := range d.order {
		b.WriteString("\x1b[2K" + RenderLine(d.lines[id], d.width) + "\n")
	}
	d.drawn = len(d.order)
	_, err := io.WriteString(d.w, b.String())
	return err
}

// RenderLine renders one keyed line as "ID: text", followed by a progress bar
// when width is over 110 columns and the update has one.
func RenderLine(u Update, width int) string {
	line := u.ID + ": " + u.Text
	if bar := progressBar(u, width); bar != "" {
		line += " " + bar
	}
	return strings.TrimRight(line, " ")
}

func progressBar(u Update, width int) string {
	if u.Total <= 0 || width <= 110 {
		return ""
	}
	filled := min(int(float64(u.Current)/float64(u.Total)*100)/2, 50)
	return "[" + strings.Repeat("=", filled) + ">" + strings.Repeat(" ", max(50-filled, 0)) + "]"
}
