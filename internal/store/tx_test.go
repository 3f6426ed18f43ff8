package store

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
)

// Inside Update, every read sees the writes made so far, through every
// index, in the order memdb gives.
func TestWriteTxReadsItsOwnWrites(t *testing.T) {
	task := func(id, svc, node string) *Task {
		return &Task{Task: swarm.Task{ID: id, ServiceID: svc, NodeID: node}}
	}
	ids := func(ts []*Task) []string {
		out := []string{}
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	tests := []struct {
		name  string
		write func(tx *WriteTx) error
		read  func(tx ReadTx) []string
		want  []string
	}{
		{
			name:  "new task by service, in ID order",
			write: func(tx *WriteTx) error { return tx.Put(task("t0", "s1", "n9")) },
			read:  func(tx ReadTx) []string { return ids(TasksByService(tx, "s1")) },
			want:  []string{"t0", "t1", "t2"},
		},
		{
			name:  "task moved to another node leaves the old one",
			write: func(tx *WriteTx) error { return tx.Put(task("t1", "s1", "n2")) },
			read:  func(tx ReadTx) []string { return ids(TasksByNode(tx, "n1")) },
			want:  []string{"t3"},
		},
		{
			name:  "task moved to another node joins the new one",
			write: func(tx *WriteTx) error { return tx.Put(task("t3", "s2", "n2")) },
			read:  func(tx ReadTx) []string { return ids(TasksByNode(tx, "n2")) },
			want:  []string{"t2", "t3"},
		},
		{
			name:  "deleted task is gone from every index",
			write: func(tx *WriteTx) error { return tx.Delete(task("t2", "", "")) },
			read: func(tx ReadTx) []string {
				return append(append(ids(All[*Task](tx)), ids(TasksByNode(tx, "n2"))...), ids(ByIDPrefix[*Task](tx, "t2"))...)
			},
			want: []string{"t1", "t3", "t4"},
		},
		{
			name:  "deleted then written again",
			write: func(tx *WriteTx) error { _ = tx.Delete(task("t2", "", "")); return tx.Put(task("t2", "s3", "")) },
			read:  func(tx ReadTx) []string { return ids(TasksByService(tx, "s3")) },
			want:  []string{"t2"},
		},
		{
			name:  "unassigned task is on no node",
			write: func(tx *WriteTx) error { return tx.Put(task("t1", "s1", "")) },
			read:  func(tx ReadTx) []string { return ids(TasksByNode(tx, "")) },
			want:  []string{},
		},
		{
			name:  "by ID prefix",
			write: func(tx *WriteTx) error { return tx.Put(task("t11", "s1", "")) },
			read:  func(tx ReadTx) []string { return ids(ByIDPrefix[*Task](tx, "t1")) },
			want:  []string{"t1", "t11"},
		},
		{
			name: "get sees the latest write",
			write: func(tx *WriteTx) error {
				_ = tx.Put(task("t9", "s1", "n1"))
				return tx.Put(task("t9", "s1", "n5"))
			},
			read: func(tx ReadTx) []string { return []string{Get[*Task](tx, "t9").NodeID} },
			want: []string{"n5"},
		},
		{
			name: "services by name",
			write: func(tx *WriteTx) error {
				_ = tx.Put(service("a", "web"))
				return tx.Put(service("b", "db"))
			},
			read: func(tx ReadTx) []string {
				var out []string
				for _, s := range ByName[*Service](tx, "web") {
					out = append(out, s.ID)
				}
				return out
			},
			want: []string{"a", "web-svc"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t)
			err := s.Update(t.Context(), func(tx *WriteTx) error {
				for _, o := range []object{task("t1", "s1", "n1"), task("t2", "s1", "n2"), task("t3", "s2", "n1"), task("t4", "s2", ""), service("web-svc", "web")} {
					if err := tx.Put(o); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			err = s.Update(t.Context(), func(tx *WriteTx) error {
				if err := tt.write(tx); err != nil {
					return err
				}
				got = tt.read(tx.ReadTx)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("read inside the update (-want +got):\n%s", diff)
			}
			// After the update the tables hold what the overlay showed.
			s.View(func(tx ReadTx) {
				if after := tt.read(tx); !cmp.Equal(tt.want, after) {
					t.Errorf("read after the update got %v, want %v", after, tt.want)
				}
			})
		})
	}
}
