package imagepeer

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/shoal-project/shoal/internal/limits"
)

func TestReadChunks(t *testing.T) {
	broken := errors.New("disk on fire")
	for _, c := range []struct {
		name    string
		size    int
		failAt  int // the reader fails after this many bytes; -1 never
		wantErr error
	}{
		{"empty", 0, -1, nil},
		{"one byte", 1, -1, nil},
		{"one chunk", limits.PeerChunkSize, -1, nil},
		{"a read and a byte", limits.PeerReadSize + 1, -1, nil},
		{"three reads and a half", 3*limits.PeerReadSize + limits.PeerChunkSize/2, -1, nil},
		{"fails in the second read", 3 * limits.PeerReadSize, limits.PeerReadSize + 10, broken},
	} {
		t.Run(c.name, func(t *testing.T) {
			blob := bytes.Repeat([]byte("0123456789abcdef"), c.size/16+1)[:c.size]
			var r io.Reader = bytes.NewReader(blob)
			if c.failAt >= 0 {
				r = io.MultiReader(bytes.NewReader(blob[:c.failAt]), errReader{broken})
			}
			out := make(chan chunk, limits.PeerReadAhead)
			go readChunks(t.Context(), r, out)
			var got []byte
			var err error
			for ch := range out {
				if ch.err != nil {
					err = ch.err
					continue
				}
				if len(ch.data) == 0 || len(ch.data) > limits.PeerChunkSize {
					t.Errorf("a chunk of %d bytes, want 1 to %d", len(ch.data), limits.PeerChunkSize)
				}
				got = append(got, ch.data...)
			}
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
			want := blob
			if c.failAt >= 0 {
				want = blob[:c.failAt]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got %d bytes, want %d, the same", len(got), len(want))
			}
		})
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
