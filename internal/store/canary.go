package store

import "time"

// Canary is a canary or blue/green deployment of a service's spec, asked
// with shoal service update --canary N or --blue-green (Shoal's own, not
// Docker's): Count tasks of the new spec run beside the old ones until
// the deployment is promoted (the rest is rolled as a normal update; for
// blue/green, every old task stops at once) or rolled back (the new tasks
// stop).
type Canary struct {
	// SpecVersion is the service's spec version the canary runs; a spec
	// change ends the canary.
	SpecVersion uint64
	// Count is how many tasks of the new spec run beside the old ones:
	// every slot for blue/green.
	Count     int
	BlueGreen bool `json:",omitempty"`
	// PromoteAfter, when set, promotes the deployment once its new tasks
	// have all run through the update's monitor period and this long
	// more.
	PromoteAfter time.Duration `json:",omitempty"`
	// PromoteRequested is set by shoal service promote; a blue/green
	// deployment switches once every new task runs.
	PromoteRequested bool `json:",omitempty"`

	State     CanaryState
	StartedAt time.Time
	// Running is how many of the new tasks run.
	Running int
	// EndedAt is when it was promoted or rolled back.
	EndedAt time.Time `json:",omitempty"`
	Message string    `json:",omitempty"`
}

// CanaryState is where a canary deployment is.
type CanaryState string

// Canary states.
const (
	// CanaryWaiting: the new tasks run (or start) beside the old ones,
	// waiting for promotion.
	CanaryWaiting CanaryState = "waiting"
	// CanaryPromoted: the rest of the service is being, or was, rolled
	// to the new spec.
	CanaryPromoted CanaryState = "promoted"
	// CanaryRolledBack: the new tasks were stopped and the previous spec
	// restored, on request or because a new task failed.
	CanaryRolledBack CanaryState = "rolled_back"
	// CanarySuperseded: the service's spec changed again before the
	// canary was promoted.
	CanarySuperseded CanaryState = "superseded"
)
