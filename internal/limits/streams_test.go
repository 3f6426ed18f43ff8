package limits

import (
	"strings"
	"sync"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestGate(t *testing.T) {
	tests := []struct {
		name  string
		max   int
		enter int  // holders that enter first
		leave int  // of which leave (each twice: a second release is a no-op)
		ok    bool // whether one more is then admitted
	}{
		{"empty", 2, 0, 0, true},
		{"below the limit", 2, 1, 0, true},
		{"at the limit", 2, 2, 0, false},
		{"at the limit after one left", 2, 2, 1, true},
		{"limit of one", 1, 1, 0, false},
		{"limit of zero", 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGate("widgets", tt.max)
			var releases []func()
			for range tt.enter {
				release, err := g.Enter()
				if err != nil {
					t.Fatal(err)
				}
				releases = append(releases, release)
			}
			for _, release := range releases[:tt.leave] {
				release()
				release()
			}
			_, err := g.Enter()
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want admitted %v", err, tt.ok)
			}
			if err != nil {
				if errdefs.HTTPStatus(err) != 503 || !strings.Contains(err.Error(), "too many widgets: this daemon serves at most") {
					t.Fatalf("got %v (%d), want a 503 naming widgets and the limit", err, errdefs.HTTPStatus(err))
				}
				if g.Open() != tt.enter-tt.leave {
					t.Fatalf("a refused holder is counted: %d open, want %d", g.Open(), tt.enter-tt.leave)
				}
			}
		})
	}
}

// TestGateConcurrent: however many try at once, no more than max are in.
func TestGateConcurrent(t *testing.T) {
	g := NewGate("widgets", 10)
	var mu sync.Mutex
	in, most := 0, 0
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			release, err := g.Enter()
			if err != nil {
				return
			}
			mu.Lock()
			in++
			most = max(most, in)
			mu.Unlock()
			mu.Lock()
			in--
			mu.Unlock()
			release()
		})
	}
	wg.Wait()
	if most > 10 || g.Open() != 0 {
		t.Fatalf("at most %d in at once and %d left, want at most 10 and 0", most, g.Open())
	}
}
