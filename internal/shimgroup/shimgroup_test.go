package shimgroup

import (
	"fmt"
	"testing"
	"time"
)

func counted() func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("g%d", n)
	}
}

func TestAssign(t *testing.T) {
	tests := []struct {
		name string
		size int
		keys []string
		want []string
	}{
		{"off at size 1", 1, []string{"runc", "runc"}, []string{"", ""}},
		{"off at size 0", 0, []string{"runc"}, []string{""}},
		{"a new group when full", 3, []string{"runc", "runc", "runc", "runc", "runc", "runc", "runc"},
			[]string{"g1", "g1", "g1", "g2", "g2", "g2", "g3"}},
		{"keys never share", 2, []string{"runc", "crun", "runc", "runc/userns", "crun", "runc"},
			[]string{"g1", "g2", "g1", "g3", "g2", "g4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(tt.size, counted())
			for i, k := range tt.keys {
				if got := p.Assign(k); got != tt.want[i] {
					t.Errorf("container %d (%s): got group %q, want %q", i, k, got, tt.want[i])
				}
			}
		})
	}
}

func TestNilPoolGroupsNothing(t *testing.T) {
	var p *Pool
	if g := p.Assign("runc"); g != "" {
		t.Errorf("nil pool assigned %q", g)
	}
	if _, ok := p.Join("g1"); ok {
		t.Error("nil pool let a container join")
	}
	p.Close("g1")
}

func TestJoinUntilClosed(t *testing.T) {
	p := newPool(4, counted())
	g := p.Assign("runc")
	done, ok := p.Join(g)
	if !ok {
		t.Fatalf("first member cannot join its fresh group %s", g)
	}
	done(true)
	if _, ok := p.Join("shoal-of-an-earlier-daemon"); ok {
		t.Error("a group this pool did not make may be joined; its shim may be going away")
	}
	p.Close(g)
	if _, ok := p.Join(g); ok {
		t.Errorf("group %s may be joined after a task of it was deleted", g)
	}
	if next := p.Assign("runc"); next == g {
		t.Errorf("a closed group (%s) is assigned to a new container", g)
	}
}

func TestFailedCreateCloses(t *testing.T) {
	p := newPool(4, counted())
	g := p.Assign("runc")
	done, ok := p.Join(g)
	if !ok {
		t.Fatal("cannot join")
	}
	done(false)
	if _, ok := p.Join(g); ok {
		t.Errorf("group %s may be joined after a create in it failed; its shim may be going away", g)
	}
}

// TestCloseWaitsForJoins: a delete that may end the shim waits until a
// start joining it has its task, which then keeps the shim.
func TestCloseWaitsForJoins(t *testing.T) {
	p := newPool(4, counted())
	g := p.Assign("runc")
	done, ok := p.Join(g)
	if !ok {
		t.Fatal("cannot join")
	}
	closed := make(chan struct{})
	go func() {
		p.Close(g)
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a join was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	done(true)
	<-closed
}
