package jsonlog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// pollInterval is how often a follower looks for new entries. Polling a
// file is simple and cheap at this rate; a container's output is only ever
// shown to a person.
const pollInterval = 100 * time.Millisecond

// ReadOptions selects the entries Read delivers.
type ReadOptions struct {
	Tail  int       // only the last Tail entries of the log; negative for all
	Since time.Time // only entries stamped at or after Since; zero for all
	// Until: only entries stamped before Until; zero for all. Following
	// ends at the first entry at or after it.
	Until  time.Time
	Follow bool // at the end, wait for new entries until done closes or ctx ends
}

// errPastUntil stops reading at the first entry past ReadOptions.Until.
var errPastUntil = errors.New("past the end of the time range")

// Read calls fn with the entries of the log at path that opts selects, in
// order, the rotated files' (LOG.N…LOG.1, gzipped or not) before the
// log's. A log that does not exist yet is empty. When following, Read
// returns nil once done is closed and the entries written before that have
// been delivered; when ctx ends first it returns ctx's error; a rotation
// meanwhile is followed into the new log. Lines that are not valid entries
// (a write cut short by a crash) are skipped.
func Read(ctx context.Context, path string, opts ReadOptions, done <-chan struct{}, fn func(Entry) error) error {
	old, err := rotated(path)
	if err != nil {
		return err
	}
	defer func() {
		for _, rc := range old {
			rc.Close()
		}
	}()
	f, err := openLog(ctx, path, opts.Follow && len(old) == 0, done)
	if err != nil {
		return err
	}
	cur := &current{path: path, f: f}
	if f != nil {
		cur.lr = &lineReader{r: bufio.NewReader(f)}
	}
	defer cur.close()
	lrs := make([]*lineReader, 0, len(old)+1)
	for _, rc := range old {
		lrs = append(lrs, &lineReader{r: bufio.NewReader(rc)})
	}
	if cur.lr != nil {
		lrs = append(lrs, cur.lr)
	}

	emit := func(line []byte) error {
		e, err := Decode(line)
		if err != nil {
			return nil
		}
		if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
			return nil
		}
		if !opts.Until.IsZero() && !e.Time.Before(opts.Until) {
			return errPastUntil
		}
		return fn(e)
	}
	err = read(ctx, lrs, cur, opts, done, emit)
	if errors.Is(err, errPastUntil) {
		return nil
	}
	return err
}

// current is the log being written, which a follower reads on into the
// next one when it rotates.
type current struct {
	path string
	f    *os.File // nil until the log exists
	lr   *lineReader
}

// each delivers the lines written since the last call; when the log was
// rotated meanwhile, the rest of the old one and then the new one.
func (c *current) each(emit func([]byte) error) error {
	if c.f != nil {
		if err := c.lr.each(emit); err != nil {
			return err
		}
		st, err := c.f.Stat()
		if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		if now, err := os.Stat(c.path); err != nil || os.SameFile(st, now) {
			return nil
		}
		// Rotated: what was written before the rename is all read.
		if err := c.lr.each(emit); err != nil {
			return err
		}
		c.f.Close()
		c.f = nil
	}
	f, err := os.Open(c.path)
	if err != nil {
		return nil // between the rename and the new log
	}
	c.f, c.lr = f, &lineReader{r: bufio.NewReader(f)}
	return c.lr.each(emit)
}

func (c *current) close() {
	if c.f != nil {
		c.f.Close()
	}
}

// read delivers the selected entries of the logs lrs read, oldest first
// (the last of them cur's), through emit, then follows cur.
func read(ctx context.Context, lrs []*lineReader, cur *current, opts ReadOptions, done <-chan struct{}, emit func([]byte) error) error {
	if opts.Tail >= 0 {
		last, err := lastLines(lrs, opts.Tail)
		if err != nil {
			return err
		}
		for _, line := range last {
			if err := emit(line); err != nil {
				return err
			}
		}
	} else {
		for _, lr := range lrs {
			if err := lr.each(emit); err != nil {
				return err
			}
		}
	}
	if !opts.Follow {
		return nil
	}

	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return cur.each(emit)
		case <-tick.C:
			if err := cur.each(emit); err != nil {
				return err
			}
		}
	}
}

// openLog opens the log at path. When it does not exist, it is empty: nil
// without following, and when following it is waited for until done closes
// (nil) or ctx ends.
func openLog(ctx context.Context, path string, follow bool, done <-chan struct{}) (*os.File, error) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		f, err := os.Open(path)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open log: %w", err)
		}
		if !follow {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-done:
			return nil, nil
		case <-tick.C:
		}
	}
}

// lastLines reads lrs, one after the other, to their ends and returns
// their last n complete lines.
func lastLines(lrs []*lineReader, n int) ([][]byte, error) {
	ring := make([][]byte, 0, min(n, 1024))
	next := 0
	keep := func(line []byte) error {
		switch {
		case n == 0:
		case len(ring) < n:
			ring = append(ring, line)
		default:
			ring[next] = line
			next = (next + 1) % n
		}
		return nil
	}
	for _, lr := range lrs {
		if err := lr.each(keep); err != nil {
			return nil, err
		}
	}
	return append(ring[next:], ring[:next]...), nil
}

// lineReader reads complete lines from a file that may still be growing: a
// line without its newline yet is kept until the rest of it arrives.
type lineReader struct {
	r       *bufio.Reader
	partial []byte
}

// each calls fn with every complete line (without its newline) that can be
// read now. The line is fn's to keep.
func (lr *lineReader) each(fn func([]byte) error) error {
	for {
		b, err := lr.r.ReadBytes('\n')
		if err != nil {
			lr.partial = append(lr.partial, b...)
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read log: %w", err)
		}
		line := append(lr.partial, b[:len(b)-1]...)
		lr.partial = nil
		if err := fn(line); err != nil {
			return err
		}
	}
}
