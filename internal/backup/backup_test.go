package backup

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/testutil/plaintext"
)

var (
	header = Header{ClusterID: "c1", Index: 42, TakenAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), TakenOn: "n1"}
	secret = []byte("s3cret-value-that-must-not-leak")
	state  = []byte(`{"Index":42,"Tables":{"secret":[{"Spec":{"Data":"` + string(secret) + `"}}]}}`)
)

func write(t *testing.T, kek []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, header, state, kek); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, 32)
	for _, tt := range []struct {
		name string
		kek  []byte
	}{{"in the clear", nil}, {"autolocked", kek}} {
		t.Run(tt.name, func(t *testing.T) {
			data := write(t, tt.kek)
			for _, f := range plaintext.Forms(secret) {
				if bytes.Contains(data, f.Bytes) {
					t.Errorf("the backup holds the secret as %s", f.Name)
				}
			}
			h, got, err := Read(bytes.NewReader(data), tt.kek)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, state) {
				t.Errorf("got state %q, want %q", got, state)
			}
			want := header
			want.Autolocked = tt.kek != nil
			if diff := cmp.Diff(want, h, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Key" }, cmp.Ignore())); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if hh, err := ReadHeader(bytes.NewReader(data)); err != nil || hh.Index != 42 {
				t.Errorf("ReadHeader: got %+v, %v", hh, err)
			}
		})
	}
}

func TestReadRefuses(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, 32)
	plain, locked := write(t, nil), write(t, kek)
	other := write(t, nil)
	swapped := func() []byte {
		// plain's header and key before another backup's state.
		i := bytes.IndexByte(plain[len(magic):], '\n') + len(magic) + 1
		j := bytes.IndexByte(other[len(magic):], '\n') + len(magic) + 1
		return append(append([]byte{}, plain[:i]...), other[j:]...)
	}()
	flipped := append([]byte{}, plain...)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		data []byte
		kek  []byte
		want string
	}{
		{name: "not a backup", data: []byte("hello\n"), want: "not a Shoal swarm backup"},
		{name: "empty", data: nil, want: "not a Shoal swarm backup"},
		{name: "header not JSON", data: []byte(magic + "{\n"), want: "backup header"},
		{name: "header without a cluster", data: []byte(magic + `{"Index":1,"Key":"AAAA"}` + "\n"), want: "ClusterID, Index and Key are required"},
		{name: "header line too long", data: []byte(magic + strings.Repeat("x", maxHeader+1) + "\n"), want: "longer than"},
		{name: "truncated state", data: plain[:len(plain)-10], want: "damaged or was altered"},
		{name: "a bit flipped", data: flipped, want: "damaged or was altered"},
		{name: "another backup's state", data: swapped, want: "damaged or was altered"},
		{name: "autolocked without the key", data: locked, want: "--unlock-key"},
		{name: "autolocked with another key", data: locked, kek: bytes.Repeat([]byte{8}, 32), want: "not the one of when it was taken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Read(bytes.NewReader(tt.data), tt.kek)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if !errdefs.Is(err, errdefs.KindInvalid) {
				t.Errorf("got error kind of %v, want invalid (a 400)", err)
			}
		})
	}
}
