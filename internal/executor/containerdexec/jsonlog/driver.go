package jsonlog

import (
	"errors"
	"io"
	"sync"
	"time"
)

// Drive appends what a container writes to stdout and stderr to the log at
// path, rotated as rot says, until both streams end. It closes ready once the log is open, which
// is what a containerd shim waits for before it starts the container.
//
// A stream whose entries cannot be written any more is still read to its
// end, so that a full disk loses output instead of blocking the container.
func Drive(path string, rot Rotation, stdout, stderr io.Reader, ready io.Closer) error {
	f, err := OpenFile(path, rot)
	ready.Close()
	if err != nil {
		return err
	}
	defer f.Close()

	w := NewWriter(f, time.Now)
	var (
		wg   sync.WaitGroup
		errs = make([]error, 2)
	)
	for i, s := range []struct {
		name string
		r    io.Reader
	}{{Stdout, stdout}, {Stderr, stderr}} {
		wg.Go(func() {
			if err := w.Copy(s.name, s.r); err != nil {
				errs[i] = err
				io.Copy(io.Discard, s.r)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
