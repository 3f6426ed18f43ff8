package consensus

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

func testSealer(t *testing.T) *sealer {
	t.Helper()
	dek := make([]byte, DEKSize)
	rand.Read(dek)
	s, err := newSealer(dek)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSealedLogEntriesAreBoundToTheirPlace swaps the encrypted data of two
// log entries on "disk" and moves one entry's data to another type: each
// must fail to decrypt rather than be read as the other.
func TestSealedLogEntriesAreBoundToTheirPlace(t *testing.T) {
	disk := raft.NewInmemStore()
	logs := &sealedLogs{LogStore: disk, s: testSealer(t)}
	if err := logs.StoreLogs([]*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("first")},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte("second")},
	}); err != nil {
		t.Fatal(err)
	}
	var raw1, raw2 raft.Log
	if err := disk.GetLog(1, &raw1); err != nil {
		t.Fatal(err)
	}
	if err := disk.GetLog(2, &raw2); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw1.Data, []byte("first")) {
		t.Fatalf("entry 1 is stored in the clear: %q", raw1.Data)
	}
	var got raft.Log
	if err := logs.GetLog(1, &got); err != nil || string(got.Data) != "first" {
		t.Fatalf("entry 1 read back as %q, %v; want first", got.Data, err)
	}

	swapped1, swapped2 := raw1, raw2
	swapped1.Data, swapped2.Data = raw2.Data, raw1.Data
	retyped := raw2
	retyped.Type = raft.LogConfiguration
	for _, tt := range []struct {
		name string
		l    raft.Log
	}{
		{"entry 2's data at index 1", swapped1},
		{"entry 1's data at index 2", swapped2},
		{"a command's data as a configuration", retyped},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.l
			if err := disk.StoreLog(&l); err != nil {
				t.Fatal(err)
			}
			var got raft.Log
			if err := logs.GetLog(l.Index, &got); err == nil {
				t.Fatalf("read %q, want a decryption error", got.Data)
			}
		})
	}
}

// TestSealedSnapshotIsBoundToItsIndexAndTerm writes a sealed snapshot's
// bytes as a snapshot at another index, and at another term: opening it
// there must fail to decrypt rather than restore old state.
func TestSealedSnapshotIsBoundToItsIndexAndTerm(t *testing.T) {
	s := testSealer(t)
	write := func(ss raft.SnapshotStore, index, term uint64, data []byte) string {
		t.Helper()
		sink, err := ss.Create(raft.SnapshotVersionMax, index, term, raft.Configuration{}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sink.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		return sink.ID()
	}
	read := func(ss raft.SnapshotStore, id string) ([]byte, error) {
		t.Helper()
		_, rc, err := ss.Open(id)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}

	disk := raft.NewInmemSnapshotStore()
	id := write(&sealedSnapshots{SnapshotStore: disk, s: s}, 7, 2, []byte("state at 7"))
	sealed, err := read(disk, id)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("state at 7")) {
		t.Fatalf("snapshot stored in the clear: %q", sealed)
	}
	if got, err := read(&sealedSnapshots{SnapshotStore: disk, s: s}, id); err != nil || string(got) != "state at 7" {
		t.Fatalf("snapshot read back as %q, %v; want state at 7", got, err)
	}
	for _, tt := range []struct {
		name        string
		index, term uint64
	}{
		{"another index", 8, 2},
		{"another term", 7, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			moved := raft.NewInmemSnapshotStore()
			id := write(moved, tt.index, tt.term, sealed)
			if got, err := read(&sealedSnapshots{SnapshotStore: moved, s: s}, id); err == nil {
				t.Fatalf("opened as %q, want a decryption error", got)
			}
		})
	}
}
