package jsonlog

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/docker/go-units"
)

// Rotation is what the json-file driver's options (docker run --log-opt)
// ask of a log: once it holds MaxSize bytes it is renamed LOG.1 (LOG.1
// to LOG.2, …) before the next entry, and at most MaxFiles files are kept,
// the log itself included; with Compress the rotated ones are gzipped
// (LOG.1.gz, …). The zero Rotation never rotates.
type Rotation struct {
	MaxSize  int64 // bytes; 0 for no limit
	MaxFiles int   // 0 or 1: the log alone
	Compress bool
}

// Option names of the json-file driver.
const (
	OptMaxSize  = "max-size"
	OptMaxFile  = "max-file"
	OptCompress = "compress"
)

// ParseOptions reads the json-file driver's options as dockerd does, with
// its messages. tag is accepted and means nothing to json-file, as in
// Docker; labels and env (extra attributes in each entry) are refused
// rather than ignored.
func ParseOptions(opts map[string]string) (Rotation, error) {
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		switch k {
		case OptMaxSize, OptMaxFile, OptCompress, "tag":
		case "labels", "labels-regex", "env", "env-regex":
			return Rotation{}, fmt.Errorf("log opt '%s' is not supported by this node's json-file log driver", k)
		default:
			return Rotation{}, fmt.Errorf("unknown log opt '%s' for json-file log driver", k)
		}
	}
	r := Rotation{MaxFiles: 1}
	if s, ok := opts[OptMaxSize]; ok {
		n, err := units.FromHumanSize(s)
		if err != nil {
			return Rotation{}, fmt.Errorf("max-size: %w", err)
		}
		if n <= 0 {
			return Rotation{}, errors.New("max-size must be a positive number")
		}
		r.MaxSize = n
	}
	if s, ok := opts[OptMaxFile]; ok {
		n, err := strconv.Atoi(s)
		if err != nil {
			return Rotation{}, fmt.Errorf("max-file must be a whole number, not %q", s)
		}
		if n < 1 {
			return Rotation{}, errors.New("max-file cannot be less than 1")
		}
		r.MaxFiles = n
	}
	if s, ok := opts[OptCompress]; ok {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return Rotation{}, fmt.Errorf("compress must be true or false, not %q", s)
		}
		if b && (r.MaxFiles < 2 || r.MaxSize == 0) {
			return Rotation{}, errors.New("compress cannot be true when max-file is less than 2 or max-size is not set")
		}
		r.Compress = b
	}
	return r, nil
}

// rotatedName is the name of the n-th rotated file of the log at path.
func rotatedName(path string, n int, compressed bool) string {
	name := path + "." + strconv.Itoa(n)
	if compressed {
		name += ".gz"
	}
	return name
}

// File is a log that rotates as its Rotation says. Each Write is one
// entry: the log rotates between entries, never inside one.
type File struct {
	path string
	rot  Rotation

	mu         sync.Mutex
	f          *os.File       // guarded by mu
	size       int64          // guarded by mu
	compressed sync.WaitGroup // the rotated file being gzipped
}

// OpenFile opens (creating it) the log at path for appending.
func OpenFile(path string, rot Rotation) (*File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &File{path: path, rot: rot, f: f, size: st.Size()}, nil
}

// Write appends one entry, rotating the log first when it is full.
func (l *File) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rot.MaxSize > 0 && l.size >= l.rot.MaxSize {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(b)
	l.size += int64(n)
	return n, err
}

// Close closes the log once a compression under way has ended.
func (l *File) Close() error {
	l.compressed.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// rotate shifts the rotated files up by one, dropping the oldest, renames
// the log LOG.1 and starts a new one. With one file, the log is started
// again empty.
func (l *File) rotate() error {
	l.compressed.Wait() // LOG.1 is about to move
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	if l.rot.MaxFiles > 1 {
		c := l.rot.Compress
		if err := os.Remove(rotatedName(l.path, l.rot.MaxFiles-1, c)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
		for n := l.rot.MaxFiles - 2; n >= 1; n-- {
			if err := os.Rename(rotatedName(l.path, n, c), rotatedName(l.path, n+1, c)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rotate log: %w", err)
			}
		}
		if err := os.Rename(l.path, rotatedName(l.path, 1, false)); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
	} else if err := os.Remove(l.path); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	l.f, l.size = f, 0
	if l.rot.Compress && l.rot.MaxFiles > 1 {
		// Gzipping a full log takes a while: the container's output
		// goes on into the new one meanwhile.
		l.compressed.Go(func() { compress(rotatedName(l.path, 1, false)) })
	}
	return nil
}

// compress replaces the file at path with path.gz. A failure leaves the
// file as it was, which readers read uncompressed.
func compress(path string) {
	if err := gzipFile(path, path+".gz"); err != nil {
		os.Remove(path + ".gz")
		return
	}
	os.Remove(path)
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// rotated opens the rotated files of the log at path, oldest first, a
// gzipped one read through gzip. The caller closes them.
func rotated(path string) ([]io.ReadCloser, error) {
	var files []io.ReadCloser
	for n := 1; ; n++ {
		rc, err := openRotated(path, n)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, err
		}
		files = append(files, rc)
	}
	slices.Reverse(files)
	return files, nil
}

// openRotated opens LOG.n, or else LOG.n.gz; the plain one is there
// while it is being compressed.
func openRotated(path string, n int) (io.ReadCloser, error) {
	f, err := os.Open(rotatedName(path, n, false))
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open log: %w", err)
	}
	f, err = os.Open(rotatedName(path, n, true))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("open log: %w", err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log %s: %w", f.Name(), err)
	}
	return gzReadCloser{zr, f}, nil
}

type gzReadCloser struct {
	*gzip.Reader
	f *os.File
}

func (g gzReadCloser) Close() error {
	g.Reader.Close()
	return g.f.Close()
}
