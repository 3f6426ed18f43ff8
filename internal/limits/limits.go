// Package limits holds the documented maxima of what a Shoal cluster
// accepts, and pure functions that say whether a spec is within them. The
// API refuses what is past them; the controllers use the same functions on
// what they find in the store, so a spec that got in some other way (an
// older version, a bug) is marked unservable instead of served.
//
// # Sizes
//
// Objects travel to agents as JSON over gRPC, one object never split over
// messages. MaxObjectSize bounds the JSON encoding of any spec: 2 MiB holds
// the largest config Docker accepts (1000 KiB of data, 1.33 MiB as base64)
// with room for its labels. MaxMessageSize, the most an agent accepts in
// one message from its manager, and a manager in a write forwarded by
// another, is four times that, so one object of the largest size and its
// envelope always fit, and the dispatcher packs smaller ones up to it. A request body may be twice MaxObjectSize, so a
// spec that is within its limit but pretty-printed is still read and
// judged by its own size.
//
// # Replicas
//
// Every task carries a copy of its service's TaskSpec, in the store of
// every manager, in the raft log and in snapshots, and a slot keeps old
// tasks: as many as the swarm's task history, or its restart policy's
// attempts, whichever is more, and a replacement may be in flight. A
// service's footprint is therefore about
//
//	count × (kept per slot + 1) × (encoded TaskSpec + TaskOverhead)
//
// Two rules bound it:
//
//   - replicas, job completions and concurrency, and max replicas per node
//     are at most the cluster's MaxReplicas: DefaultMaxReplicas (10,000)
//     unless the swarm's label MaxReplicasLabel says otherwise, up to
//     CeilingMaxReplicas;
//   - the footprint is at most MaxServiceFootprint (256 MiB).
//
// The worst accepted service is then 256 MiB of encoded tasks whatever its
// shape: 10,000 replicas of a 3 KiB TaskSpec with Docker's default history
// of 5, or 21 replicas of a 2 MiB one. Decoded, that is a few times as
// much in memory at the very worst, which a manager with a few GiB
// survives (a daemon that made the 10,000 tasks of a small service peaked
// at 119 MiB in all, e2e TestHostile); 10,000 is at the large end of what
// Docker users run in one service, well short of what one manager can
// hold. A swarm update that
// would put a stored service past these limits (a lower MaxReplicas, a
// longer history) is refused, so that one never makes services unservable.
//
// # Durations
//
// Durations in specs are at most MaxDuration, a year: longer than any real
// delay, period or timeout, and short enough that adding a few of them to
// a time, or multiplying one by a small factor, never overflows.
package limits

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Sizes, in bytes.
const (
	MaxObjectSize  = 2 << 20
	MaxMessageSize = 4 * MaxObjectSize
	MaxRequestBody = 2 * MaxObjectSize

	// Docker's (SwarmKit's controlapi): data must be shorter than these.
	MaxSecretData = 500 * 1024
	MaxConfigData = 1000 * 1024

	// MaxBuildContext bounds the files of a docker build context once
	// unpacked on the node's disk (POST /build).
	MaxBuildContext = 4 << 30

	// MaxCopyArchive bounds the tar of a docker cp into a container (PUT
	// /containers/{id}/archive), spooled to the node's disk so that it is
	// checked whole before any of it is extracted; MaxCopyHeaders bounds
	// what the check keeps in memory of its entries: their names and link
	// targets, and 160 bytes each (about a million entries of 100-byte
	// names). dockerd bounds neither: it extracts as it reads.
	MaxCopyArchive = 4 << 30
	MaxCopyHeaders = 256 << 20

	MaxLabels         = 1000
	MaxLabelKeySize   = 1024
	MaxLabelValueSize = 64 * 1024
)

// Counts and footprint.
const (
	DefaultMaxReplicas  uint64 = 10_000
	CeilingMaxReplicas  uint64 = 1_000_000
	MaxServiceFootprint uint64 = 256 << 20
	// DefaultTaskHistory is Docker's TaskHistoryRetentionLimit, and
	// MaxTaskHistory the most a swarm spec may set.
	DefaultTaskHistory uint64 = 5
	MaxTaskHistory     uint64 = 1000
	// MaxKeepOldSnapshots is the most old raft snapshots a swarm spec
	// may keep (Raft.KeepOldSnapshots): each is a copy of the whole store.
	MaxKeepOldSnapshots uint64 = 16
	// TaskOverhead is what a task holds besides its TaskSpec: IDs,
	// status, versions, timestamps, encoded.
	TaskOverhead uint64 = 1024

	// MaxReplicasLabel is the swarm's label that sets MaxReplicas. A label
	// and not a field of its own, because `docker swarm update` reads the
	// spec, changes what its flags say and writes it back: labels survive
	// that, fields the docker CLI does not know would not.
	MaxReplicasLabel = "com.shoal.limits.max-replicas"
)

// MaxDuration bounds every duration in a spec.
const MaxDuration = 365 * 24 * time.Hour

// Limits are what a cluster's swarm spec says about how much a service
// may hold.
type Limits struct {
	MaxReplicas uint64
	TaskHistory uint64 // old tasks kept per slot
}

// Default is the limits of a cluster whose spec sets none.
func Default() Limits {
	return Limits{MaxReplicas: DefaultMaxReplicas, TaskHistory: DefaultTaskHistory}
}

// FromSwarm reads the limits a swarm spec sets. A malformed label is an
// error, and the defaults are returned with it, so a controller that finds
// one in the store can go on with them.
func FromSwarm(spec swarm.Spec) (Limits, error) {
	l := Default()
	if h := spec.Orchestration.TaskHistoryRetentionLimit; h != nil {
		l.TaskHistory = uint64(max(*h, 0))
	}
	raw, ok := spec.Labels[MaxReplicasLabel]
	if !ok {
		return l, nil
	}
	n, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || n < 1 || n > CeilingMaxReplicas {
		return l, errdefs.Invalid("Labels[%q]: %q must be a whole number from 1 to %d", MaxReplicasLabel, raw, CeilingMaxReplicas)
	}
	l.MaxReplicas = n
	return l, nil
}

// BodyTooLarge is the error for a request body past MaxRequestBody.
func BodyTooLarge() error {
	return errdefs.TooLarge("request body is too large: the limit is %d bytes (%s)", MaxRequestBody, human(MaxRequestBody))
}

// EncodedSize returns the size of v's JSON encoding, which is what the
// store, raft and the dispatcher hold and send.
func EncodedSize(v any) (int, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, errdefs.Invalid("cannot encode: %v", err)
	}
	return len(b), nil
}

// Size refuses a spec whose encoding is larger than MaxObjectSize. what
// names it in the message ("service spec").
func Size(what string, v any) error {
	n, err := EncodedSize(v)
	if err != nil {
		return err
	}
	if n > MaxObjectSize {
		return errdefs.Invalid("%s is too large: %d bytes encoded, the limit is %d (%s)", what, n, MaxObjectSize, human(MaxObjectSize))
	}
	return nil
}

// Labels refuses too many labels, or a key or value too long. field names
// the map in the message ("Labels", "ContainerSpec.Labels").
func Labels(field string, labels map[string]string) error {
	if len(labels) > MaxLabels {
		return errdefs.Invalid("%s: %d labels, the limit is %d", field, len(labels), MaxLabels)
	}
	for k, v := range labels {
		if len(k) > MaxLabelKeySize {
			return errdefs.Invalid("%s: a key of %d bytes (%.20q…), the limit is %d", field, len(k), k, MaxLabelKeySize)
		}
		if len(v) > MaxLabelValueSize {
			return errdefs.Invalid("%s[%.64q]: a value of %d bytes, the limit is %d (%s)", field, k, len(v), MaxLabelValueSize, human(MaxLabelValueSize))
		}
	}
	return nil
}

// Service says whether a service spec can be served under l: its size, its
// labels, its counts and its footprint. It is the same check at the API
// and in the orchestrator.
func Service(spec swarm.ServiceSpec, l Limits) error {
	if err := Size("service spec", spec); err != nil {
		return err
	}
	if err := Labels("Labels", spec.Labels); err != nil {
		return err
	}
	if c := spec.TaskTemplate.ContainerSpec; c != nil {
		if err := Labels("TaskTemplate.ContainerSpec.Labels", c.Labels); err != nil {
			return err
		}
	}
	if p := spec.TaskTemplate.Placement; p != nil && p.MaxReplicas > l.MaxReplicas {
		return overLimit("TaskTemplate.Placement.MaxReplicas", p.MaxReplicas, l)
	}
	count, err := taskCount(spec.Mode, l)
	if err != nil {
		return err
	}
	taskSize, err := EncodedSize(spec.TaskTemplate)
	if err != nil {
		return err
	}
	perTask := uint64(taskSize) + TaskOverhead
	perSlot := slotTasks(spec.TaskTemplate, l)
	hi, footprint := bits.Mul64(count*perSlot, perTask)
	if hi == 0 && count <= CeilingMaxReplicas && footprint <= MaxServiceFootprint {
		return nil
	}
	size := "more than 16 EiB"
	if hi == 0 && count <= CeilingMaxReplicas {
		size = fmt.Sprintf("%d MiB", footprint>>20)
	}
	return errdefs.Invalid("service footprint too large: %d slots × %d tasks per slot (task history or restart attempts, and one replacement) × %d bytes per task (the encoded TaskTemplate and %d) make %s, the limit is %d MiB: lower the count to at most %d, or the history or attempts, or the spec's size",
		count, perSlot, perTask, TaskOverhead, size, MaxServiceFootprint>>20, MaxServiceFootprint/perTask/perSlot)
}

// slotTasks is how many tasks a slot holds at most: what is kept of it
// (the task history, or what the restart policy needs to count attempts)
// and a replacement in flight.
func slotTasks(ts swarm.TaskSpec, l Limits) uint64 {
	kept := max(l.TaskHistory, 1)
	if rp := ts.RestartPolicy; rp != nil && rp.MaxAttempts != nil && *rp.MaxAttempts > 0 {
		kept = max(kept, min(*rp.MaxAttempts, CeilingMaxReplicas)+1)
	}
	return kept + 1
}

// taskCount is how many tasks of a service the store holds at most, for
// the modes whose count the spec sets; global modes have one per node.
func taskCount(m swarm.ServiceMode, l Limits) (uint64, error) {
	switch {
	case m.Replicated != nil && m.Replicated.Replicas != nil:
		n := *m.Replicated.Replicas
		if n > l.MaxReplicas {
			return 0, overLimit("Mode.Replicated.Replicas", n, l)
		}
		return n, nil
	case m.ReplicatedJob != nil:
		j := m.ReplicatedJob
		var total, concurrent uint64
		if j.TotalCompletions != nil {
			total = *j.TotalCompletions
		}
		if j.MaxConcurrent != nil {
			concurrent = *j.MaxConcurrent
		}
		if total > l.MaxReplicas {
			return 0, overLimit("Mode.ReplicatedJob.TotalCompletions", total, l)
		}
		if concurrent > l.MaxReplicas {
			return 0, overLimit("Mode.ReplicatedJob.MaxConcurrent", concurrent, l)
		}
		// A job's finished tasks stay in the store until it is updated.
		return max(total, concurrent), nil
	}
	return 0, nil
}

func overLimit(field string, n uint64, l Limits) error {
	return errdefs.Invalid("%s: %d is more than the cluster's limit of %d (swarm label %s)", field, n, l.MaxReplicas, MaxReplicasLabel)
}

// Data refuses the data of a secret or config (kind) with Docker's rule and
// message: at least one byte, and less than max.
func Data(kind string, data []byte, max int) error {
	if len(data) < 1 || len(data) >= max {
		return errdefs.Invalid("%s data must be larger than 0 and less than %d bytes", kind, max)
	}
	return nil
}

// Duration refuses a duration that is negative or longer than
// MaxDuration; field names it in the message.
func Duration(field string, d time.Duration) error {
	if d < 0 || d > MaxDuration {
		return errdefs.Invalid("%s: %s is out of range (0 to %s)", field, d, MaxDuration)
	}
	return nil
}

// Secret refuses a secret spec whose data, labels or size are past their
// limits.
func Secret(spec swarm.SecretSpec) error {
	if err := Data("secret", spec.Data, MaxSecretData); err != nil {
		return err
	}
	if err := Labels("Labels", spec.Labels); err != nil {
		return err
	}
	return Size("secret spec", spec)
}

// Config refuses a config spec whose data, labels or size are past their
// limits.
func Config(spec swarm.ConfigSpec) error {
	if err := Data("config", spec.Data, MaxConfigData); err != nil {
		return err
	}
	if err := Labels("Labels", spec.Labels); err != nil {
		return err
	}
	return Size("config spec", spec)
}

// Node refuses a node spec whose labels or size are past their limits.
func Node(spec swarm.NodeSpec) error {
	if err := Labels("Labels", spec.Labels); err != nil {
		return err
	}
	return Size("node spec", spec)
}

// Swarm refuses a swarm spec whose labels or size are past their limits,
// or whose MaxReplicasLabel is malformed.
func Swarm(spec swarm.Spec) error {
	if err := Labels("Labels", spec.Labels); err != nil {
		return err
	}
	if _, err := FromSwarm(spec); err != nil {
		return err
	}
	return Size("swarm spec", spec)
}

// Network refuses a network spec whose labels, options or size are past
// their limits.
func Network(spec swarm.NetworkSpec) error {
	if err := Labels("Labels", spec.Labels); err != nil {
		return err
	}
	if d := spec.DriverConfiguration; d != nil {
		if err := Labels("DriverConfiguration.Options", d.Options); err != nil {
			return err
		}
	}
	if ipam := spec.IPAMOptions; ipam != nil && ipam.Driver.Options != nil {
		if err := Labels("IPAMOptions.Driver.Options", ipam.Driver.Options); err != nil {
			return err
		}
	}
	return Size("network spec", spec)
}

// human writes a size in KiB or MiB, as the limits are documented.
func human(n int) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%1024 == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
