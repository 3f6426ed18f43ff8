package imagepeer

import (
	"slices"

	"github.com/shoal-project/shoal/internal/limits"
)

// Sample returns at most n of hs, picked at random with intn (a function
// like rand.IntN), so that many nodes asking at once are told different
// holders.
func Sample(hs []Holder, n int, intn func(int) int) []Holder {
	out := slices.Clone(hs)
	shuffle(out, intn)
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Order is the holders a node tries, in order: never itself, the workers
// first in random order, then the managers in random order, at most
// limits.PeerMaxTries, of which one at least is a manager when any holds
// the image. Managers come last because every fetch that starts
// before any worker holds an image lands on them, and they have raft to
// serve; a worker that fetched an image serves it on.
func Order(hs []Holder, self string, intn func(int) int) []Holder {
	var workers, managers []Holder
	seen := map[string]bool{self: true}
	for _, h := range hs {
		if seen[h.NodeID] || h.Addr == "" {
			continue
		}
		seen[h.NodeID] = true
		if h.Manager {
			managers = append(managers, h)
		} else {
			workers = append(workers, h)
		}
	}
	shuffle(workers, intn)
	shuffle(managers, intn)
	if len(managers) > 0 && len(workers) > limits.PeerMaxTries-1 {
		workers = workers[:limits.PeerMaxTries-1]
	}
	out := append(workers, managers...)
	if len(out) > limits.PeerMaxTries {
		out = out[:limits.PeerMaxTries]
	}
	return out
}

// shuffle is Fisher-Yates with intn, which tests make deterministic.
func shuffle(hs []Holder, intn func(int) int) {
	for i := len(hs) - 1; i > 0; i-- {
		j := intn(i + 1)
		hs[i], hs[j] = hs[j], hs[i]
	}
}

// Unannounced is the managers at addrs as holders of unknown node ID, to
// try when no node announced the image: an image loaded on a manager a
// moment ago is there before the manager's next announcement (within
// limits.PeerCheckPeriod) says so. They are dialled as managers, by
// address.
func Unannounced(addrs []string) []Holder {
	var out []Holder
	for _, a := range addrs {
		out = append(out, Holder{Addr: a, Manager: true})
	}
	if len(out) > limits.PeerMaxTries {
		out = out[:limits.PeerMaxTries]
	}
	return out
}
