package faults

import (
	"fmt"
	"slices"

	"github.com/anishathalye/porcupine"
)

// Op is what a client asked of the API about one service.
type Op string

const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpRemove Op = "remove"
	OpRead   Op = "read"
)

// Input is one call: its key is the service's name. A write's Value is
// unique in the whole history, the service's label faults.value, and
// decides its replica count (ReplicasOf); an update sends the version it
// read (From).
type Input struct {
	Op    Op
	Key   string
	Value int
	From  uint64
	// Lenient lets a read return any state the service had before,
	// rather than the current one: what a manager that lags the leader
	// may serve.
	Lenient bool
}

// Outcome classes a call's answer.
type Outcome string

const (
	OK       Outcome = "ok"
	Exists   Outcome = "exists"    // 409 on create: the name is taken
	Stale    Outcome = "stale"     // 409 on update: update out of sequence
	NotFound Outcome = "not-found" // 404
	Refused  Outcome = "refused"   // any other 4xx: nothing was changed
	Unknown  Outcome = "unknown"   // timeout, broken connection or 5xx: it may or may not have applied
)

// Output is the answer; a read that found the service has its Version,
// Value and Replicas.
type Output struct {
	Outcome  Outcome
	Version  uint64
	Value    int
	Replicas int
	Status   int    // HTTP status, 0 when none came
	Message  string // the error's message, if any
	Manager  string // who answered
}

// ReplicasOf is the replica count a write of value gives its service: a
// read that finds a value with another count saw half a write.
func ReplicasOf(value int) int { return 1 + value%2 }

// state is what the model knows of one service.
type state struct {
	Exists bool
	Value  int
	// Ver is the service's version when known (a read saw it since the
	// last write), 0 when not.
	Ver uint64
	// Floor is the highest version the service has been seen at or
	// written from: a version not known yet is above it (versions are
	// raft indexes, which only grow).
	Floor uint64
	// Past are the values the service has had, ascending, for lenient
	// reads.
	Past []int
}

func (s state) with(f func(*state)) state {
	s.Past = slices.Clone(s.Past)
	f(&s)
	return s
}

// written is s after a write that leaves value (0: the service is gone).
func (s state) written(value int) state {
	return s.with(func(n *state) {
		if n.Ver > n.Floor {
			n.Floor = n.Ver
		}
		if n.Exists {
			if i, found := slices.BinarySearch(n.Past, n.Value); !found {
				n.Past = slices.Insert(n.Past, i, n.Value)
			}
		}
		n.Exists, n.Value, n.Ver = value != 0, value, 0
	})
}

// at reports whether the service may be at version v now.
func (s state) at(v uint64) bool {
	if s.Ver != 0 {
		return s.Ver == v
	}
	return v > s.Floor
}

// step returns the states a call can leave s in, given its answer; none
// when the answer is impossible from s.
func step(s state, in Input, out Output) []state {
	same := []state{s}
	switch in.Op {
	case OpCreate:
		switch out.Outcome {
		case OK:
			if !s.Exists {
				return []state{s.written(in.Value)}
			}
		case Exists:
			if s.Exists {
				return same
			}
		case Unknown:
			if !s.Exists {
				return []state{s, s.written(in.Value)}
			}
			return same
		case Refused:
			return same
		}
	case OpUpdate:
		switch out.Outcome {
		case OK:
			if s.Exists && s.at(in.From) {
				n := s.written(in.Value)
				n.Floor = max(n.Floor, in.From)
				return []state{n}
			}
		case Stale:
			if s.Exists && !(s.Ver != 0 && s.Ver == in.From) {
				return same
			}
		case NotFound:
			if !s.Exists {
				return same
			}
		case Unknown:
			if s.Exists && s.at(in.From) {
				n := s.written(in.Value)
				n.Floor = max(n.Floor, in.From)
				return []state{s, n}
			}
			return same
		case Refused:
			return same
		}
	case OpRemove:
		switch out.Outcome {
		case OK:
			if s.Exists {
				return []state{s.written(0)}
			}
		case NotFound:
			if !s.Exists {
				return same
			}
		case Unknown:
			if s.Exists {
				return []state{s, s.written(0)}
			}
			return same
		case Refused:
			return same
		}
	case OpRead:
		switch out.Outcome {
		case OK:
			if out.Replicas != ReplicasOf(out.Value) {
				return nil
			}
			if s.Exists && s.Value == out.Value && s.at(out.Version) {
				return []state{s.with(func(n *state) { n.Ver, n.Floor = out.Version, out.Version })}
			}
			if _, past := slices.BinarySearch(s.Past, out.Value); in.Lenient && past {
				return same
			}
		case NotFound:
			if !s.Exists || in.Lenient {
				return same
			}
		case Unknown, Refused:
			return same
		}
	}
	return nil
}

func equalStates(a, b any) bool {
	x, y := a.(state), b.(state)
	return x.Exists == y.Exists && x.Value == y.Value && x.Ver == y.Ver && x.Floor == y.Floor && slices.Equal(x.Past, y.Past)
}

// Model is the sequential specification of the services as the Engine
// API serves them: a register per service name holding the spec written
// last (its faults.value label and replica count) at a version; create
// takes a free name, update succeeds only from the current version,
// remove frees the name. Calls that ended without an answer may or may
// not have applied.
func Model() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range h {
				k := op.Input.(Input).Key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			var out [][]porcupine.Operation
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() []any { return []any{state{}} },
		Step: func(s, in, out any) []any {
			var next []any
			for _, n := range step(s.(state), in.(Input), out.(Output)) {
				next = append(next, n)
			}
			return next
		},
		Equal:             equalStates,
		DescribeOperation: func(in, out any) string { return describe(in.(Input), out.(Output)) },
		DescribeState: func(s any) string {
			st := s.(state)
			if !st.Exists {
				return fmt.Sprintf("absent (versions above %d)", st.Floor)
			}
			if st.Ver != 0 {
				return fmt.Sprintf("value %d at version %d", st.Value, st.Ver)
			}
			return fmt.Sprintf("value %d at a version above %d", st.Value, st.Floor)
		},
	}
	return nm.ToModel()
}

func describe(in Input, out Output) string {
	var call string
	switch in.Op {
	case OpCreate:
		call = fmt.Sprintf("create(%s, %d)", in.Key, in.Value)
	case OpUpdate:
		call = fmt.Sprintf("update(%s, %d, from v%d)", in.Key, in.Value, in.From)
	case OpRemove:
		call = fmt.Sprintf("remove(%s)", in.Key)
	case OpRead:
		call = fmt.Sprintf("read(%s)", in.Key)
		if in.Lenient {
			call = fmt.Sprintf("read~(%s)", in.Key)
		}
	}
	res := string(out.Outcome)
	if in.Op == OpRead && out.Outcome == OK {
		res = fmt.Sprintf("%d@v%d x%d", out.Value, out.Version, out.Replicas)
	}
	if out.Status != 0 && out.Outcome != OK {
		res += fmt.Sprintf(" (%d)", out.Status)
	}
	if out.Manager != "" {
		res += " via " + out.Manager
	}
	return call + " → " + res
}
