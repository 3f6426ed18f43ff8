package consensus

import "testing"

// What RunWhileLeader does after raft's state changed. The case that
// matters most is the last but one: a leader that stepped down and won
// again before the observer looked shows as leading twice, and the old
// term's work must not go on as the new term's.
func TestDecideLead(t *testing.T) {
	for _, c := range []struct {
		name     string
		leading  bool
		term     uint64
		running  bool
		workTerm uint64
		want     leadAction
	}{
		{"became leader", true, 5, false, 0, startWork},
		{"stepped down", false, 6, true, 5, stopWork},
		{"follower stays one", false, 6, false, 5, keepWork},
		{"leader stays one", true, 5, true, 5, keepWork},
		{"stepped down and won again unseen", true, 7, true, 5, restartWork},
		{"became leader after its work stopped", true, 7, false, 5, startWork},
	} {
		if got := decideLead(c.leading, c.term, c.running, c.workTerm); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}
