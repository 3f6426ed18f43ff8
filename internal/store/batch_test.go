package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
)

func TestBatchRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)
	tests := []struct {
		name        string
		b           Batch
		wantVersion byte
	}{
		{"one put", Batch{Time: at, Actions: []Action{{Op: OpPut, Table: tableTask, Object: json.RawMessage(`{"ID":"t1"}`)}}}, batchPlain},
		{"every table and op", Batch{Time: at, Actions: []Action{
			{Op: OpPut, Table: tableCluster, Object: json.RawMessage(`{"ID":"c"}`)},
			{Op: OpPut, Table: tableNode, Object: json.RawMessage(`{"ID":"n"}`)},
			{Op: OpDelete, Table: tableService, Object: json.RawMessage(`{"ID":"s"}`)},
			{Op: OpPut, Table: tableTask, Object: json.RawMessage(bytes.Repeat([]byte(" "), 300))},
		}}, batchPlain},
		{"large enough to compress", Batch{Time: at, Actions: slices.Repeat([]Action{
			{Op: OpPut, Table: tableTask, Object: json.RawMessage(`{"ID":"t1","Spec":{"ContainerSpec":{"Image":"busybox"}}}`)},
		}, 1000)}, batchCompressed},
		{"with the index it was decided at", Batch{Time: at, Base: 300, Actions: []Action{{Op: OpPut, Table: tableTask, Object: json.RawMessage(`{"ID":"t1"}`)}}}, batchPlain},
		{"compressed, with the index it was decided at", Batch{Time: at, Base: 1 << 40, Actions: slices.Repeat([]Action{
			{Op: OpPut, Table: tableTask, Object: json.RawMessage(`{"ID":"t1","Spec":{"ContainerSpec":{"Image":"busybox"}}}`)},
		}, 1000)}, batchCompressed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := encodeBatch(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			version := data[1]
			if tt.b.Base != 0 {
				_, n := binary.Uvarint(data[2:])
				if data[1] != batchBased || n <= 0 {
					t.Fatalf("a batch with a base starts %x", data[:4])
				}
				version = data[2+n+1]
			}
			if version != tt.wantVersion {
				t.Errorf("got version %d, want %d", version, tt.wantVersion)
			}
			got, err := decodeBatch(data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.b, got); diff != "" {
				t.Errorf("decoded batch differs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeBatchRefusesDamage(t *testing.T) {
	good, err := encodeBatch(Batch{Time: time.Unix(1, 0), Actions: []Action{{Op: OpPut, Table: tableTask, Object: json.RawMessage(`{"ID":"t1"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"header only", good[:10]},
		{"cut in the object", good[:len(good)-2]},
		{"trailing bytes", append(append([]byte{}, good...), 'x')},
		{"unknown version", append([]byte{batchMagic, 9}, good[2:]...)},
		{"compressed garbage", append([]byte{batchMagic, batchCompressed}, good[2:]...)},
		{"unknown table", func() []byte { d := append([]byte{}, good...); d[12] = 99; return d }()},
		{"a base and nothing more", []byte{batchMagic, batchBased, 7}},
		{"a base of 0", append([]byte{batchMagic, batchBased, 0}, good...)},
		{"two bases", append([]byte{batchMagic, batchBased, 7, batchMagic, batchBased, 8}, good...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := decodeBatch(tt.data); err == nil {
				t.Errorf("got batch %+v, want an error", b)
			}
		})
	}
}

// Logs written before the binary framing hold JSON batches; a restarted
// manager must still apply them.
func TestApplyBatchReadsJSONBatches(t *testing.T) {
	s := New()
	data := []byte(`{"Time":"2026-01-02T03:04:05Z","Actions":[` +
		`{"Op":"put","Table":"service","Object":{"ID":"svc","Spec":{"Name":"web"}}},` +
		`{"Op":"put","Table":"task","Object":{"ID":"t1","ServiceID":"svc"}}]}`)
	if err := s.ApplyBatch(7, data); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx ReadTx) {
		svc := Get[*Service](tx, "svc")
		if svc == nil || svc.Spec.Name != "web" || svc.Version.Index != 7 {
			t.Errorf("got service %+v, want web at index 7", svc)
		}
		if got := TasksByService(tx, "svc"); len(got) != 1 || !got[0].UpdatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("got tasks %+v, want t1 updated at the batch's time", got)
		}
	})
}

// copying hands ApplyBatch a copy of each batch, as raft does on a
// follower, so that nothing of the proposer's objects is reused.
type copying struct {
	s     *Store
	index uint64
}

func (c *copying) Propose(_ context.Context, data []byte) error {
	c.index++
	return c.s.ApplyBatch(c.index, bytes.Clone(data))
}

// The leader keeps the tasks it proposed instead of decoding them; the
// result must be what a follower decodes.
func TestLeaderAndFollowerApplyAlike(t *testing.T) {
	leader, _ := newTestStore(t)
	follower := New()
	follower.SetProposer(&copying{s: follower})
	at := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	leader.now, follower.now = at, at
	write := func(tx *WriteTx) error {
		svc := service("svc", "web")
		svc.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "busybox", Env: []string{"A=1"}}
		if err := tx.Put(svc); err != nil {
			return err
		}
		for _, id := range []string{"t1", "t2"} {
			task := &Task{Task: swarm.Task{
				ID: id, ServiceID: "svc", NodeID: "n1", Slot: 1, Spec: svc.Spec.TaskTemplate,
				Annotations:  swarm.Annotations{Labels: map[string]string{"k": "v"}},
				DesiredState: swarm.TaskStateRunning,
				Status:       swarm.TaskStatus{State: swarm.TaskStateAssigned, Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
			}, SpecVersion: 3}
			if err := tx.Put(task); err != nil {
				return err
			}
		}
		return tx.Delete(&Task{Task: swarm.Task{ID: "t2"}})
	}
	for _, s := range []*Store{leader, follower} {
		if err := s.Update(t.Context(), write); err != nil {
			t.Fatal(err)
		}
	}
	dump := func(s *Store) string {
		var buf bytes.Buffer
		if err := s.Save(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	if diff := cmp.Diff(dump(follower), dump(leader)); diff != "" {
		t.Errorf("leader differs from follower (-follower +leader):\n%s", diff)
	}
}
