// Package converge follows a service after it is created, updated, scaled or
// rolled back, and shows its progress as docker's CLI does: an overall line,
// one line per replica slot (or per node for global services), then a wait
// of UpdateConfig.Monitor to verify the tasks stay up. Tracker decides what to
// show from each poll (pure); Display draws it; Wait polls the API.
package converge

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// Update is one change to the display: a line keyed by ID ("overall
// progress", "1/3", a node ID, "verify", "rollback"), replaced in place when
// the same ID comes again, or a one-off message when ID is empty.
type Update struct {
	ID   string
	Text string
	// Current and Total draw a progress bar when Total is set.
	Current, Total int64
}

// Observation is one poll of the service: the service, its tasks at the
// current spec version, and the nodes that are not down.
type Observation struct {
	Service     swarm.Service
	Tasks       []swarm.Task
	ActiveNodes map[string]struct{}
}

var stateOrder = map[swarm.TaskState]int64{
	swarm.TaskStateNew:       1,
	swarm.TaskStateAllocated: 2,
	swarm.TaskStatePending:   3,
	swarm.TaskStateAssigned:  4,
	swarm.TaskStateAccepted:  5,
	swarm.TaskStatePreparing: 6,
	swarm.TaskStateReady:     7,
	swarm.TaskStateStarting:  8,
	swarm.TaskStateRunning:   9,
	// Not shown, but they order tasks.
	swarm.TaskStateComplete: 10,
	swarm.TaskStateShutdown: 11,
	swarm.TaskStateFailed:   12,
	swarm.TaskStateRejected: 13,
}

const (
	maxProgress     = 9
	maxJobProgress  = 10
	maxProgressBars = 20
	// stateWidth pads states so the bars line up: the longest shown state
	// ("allocated", "preparing") is 9 letters.
	stateWidth = 9
)

func terminal(s swarm.TaskState) bool { return stateOrder[s] > stateOrder[swarm.TaskStateRunning] }

// Tracker decides, poll by poll, what the converge display shows and when the
// service has converged. It keeps the state docker's CLI keeps between polls.
type Tracker struct {
	updater     updater
	converged   bool
	convergedAt time.Time
	rollback    bool
	// final is shown after "converged" when a rollback completed.
	final *Update
}

type updater interface {
	update(obs Observation, rollback bool) ([]Update, bool, error)
}

// Step folds one poll into the display. It returns the lines to show, and
// done once the service has converged (err nil) or the update has stopped
// (err says why).
func (t *Tracker) Step(obs Observation, now time.Time) (out []Update, done bool, err error) {
	svc := obs.Service
	monitor := 5 * time.Second
	if svc.Spec.UpdateConfig != nil && svc.Spec.UpdateConfig.Monitor != 0 {
		monitor = svc.Spec.UpdateConfig.Monitor
	}
	if t.updater == nil {
		if t.updater, err = newUpdater(svc); err != nil {
			return nil, true, err
		}
	}
	if us := svc.UpdateStatus; us != nil {
		switch us.State {
		case swarm.UpdateStateUpdating:
			t.rollback = false
		case swarm.UpdateStateCompleted:
			if !t.converged {
				return nil, true, nil
			}
		case swarm.UpdateStatePaused:
			return nil, true, fmt.Errorf("service update paused: %s", us.Message)
		case swarm.UpdateStateRollbackStarted:
			if !t.rollback && us.Message != "" {
				out = append(out, Update{ID: "rollback", Text: us.Message})
			}
			t.rollback = true
		case swarm.UpdateStateRollbackPaused:
			return out, true, fmt.Errorf("service rollback paused: %s", us.Message)
		case swarm.UpdateStateRollbackCompleted:
			if !t.converged {
				t.final = &Update{Text: "rollback: " + us.Message}
			}
			t.rollback = true
		}
	}
	if t.converged && now.Sub(t.convergedAt) >= monitor {
		out = append(out, Update{ID: "verify", Text: "Service converged"})
		if t.final != nil {
			out = append(out, *t.final)
		}
		return out, true, nil
	}

	lines, converged, err := t.updater.update(obs, t.rollback)
	out = append(out, lines...)
	if err != nil {
		return out, true, err
	}
	t.converged = converged
	if !converged {
		if !t.convergedAt.IsZero() {
			out = append(out, Update{ID: "verify", Text: "Detected task failure"})
		}
		t.convergedAt = time.Time{}
		return out, false, nil
	}
	// Jobs stay done once done: there is nothing to verify.
	if svc.JobStatus != nil {
		return append(out, Update{Text: "job complete"}), true, nil
	}
	if t.convergedAt.IsZero() {
		t.convergedAt = now
	}
	if wait := monitor - now.Sub(t.convergedAt); wait >= 0 {
		out = append(out, Update{ID: "verify", Text: waitingText(wait)})
	}
	return out, false, nil
}

func waitingText(wait time.Duration) string {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs <= 1 {
		return "Waiting 1 second to verify that tasks are stable..."
	}
	return fmt.Sprintf("Waiting %d seconds to verify that tasks are stable...", secs)
}

func newUpdater(svc swarm.Service) (updater, error) {
	m := svc.Spec.Mode
	switch {
	case m.Replicated != nil:
		return &replicatedUpdater{slotMap: map[int]int{}}, nil
	case m.Global != nil:
		return &globalUpdater{}, nil
	case m.ReplicatedJob != nil:
		return newReplicatedJobUpdater(svc), nil
	case m.GlobalJob != nil:
		return &globalJobUpdater{}, nil
	}
	return nil, fmt.Errorf("service %s has an unrecognized mode", svc.ID)
}

func overall(running, total int, rollback bool) Update {
	if rollback {
		return Update{ID: "overall progress", Text: fmt.Sprintf("rolling back update: %d out of %d tasks", running, total)}
	}
	return Update{ID: "overall progress", Text: fmt.Sprintf("%d out of %d tasks", running, total)}
}

// truncError keeps a task error on one line of a narrow terminal.
func truncError(msg string) string {
	msg = strings.ReplaceAll(msg, "\n", " ")
	const maxWidth = 75
	if len(msg) > maxWidth {
		msg = msg[:maxWidth-1] + "…"
	}
	return msg
}

func taskLine(id string, t swarm.Task, total int64) (Update, bool) {
	if t.Status.Err != "" {
		return Update{ID: id, Text: truncError(t.Status.Err)}, true
	}
	if terminal(t.DesiredState) || terminal(t.Status.State) {
		return Update{}, false
	}
	return Update{ID: id, Text: fmt.Sprintf("%-*s", stateWidth, t.Status.State), Current: stateOrder[t.Status.State], Total: total}, true
}

// better reports whether candidate should stand for its slot (or node) over
// existing: the lower desired state wins (a restart leaves an old task
// shutting down), then the lower observed state (start-first updates).
func better(candidate, existing swarm.Task) bool {
	cd, ed := stateOrder[candidate.DesiredState], stateOrder[existing.DesiredState]
	if cd != ed {
		return cd < ed
	}
	return stateOrder[candidate.Status.State] < stateOrder[existing.Status.State]
}

func known(t swarm.Task) bool {
	return stateOrder[t.DesiredState] != 0 && stateOrder[t.Status.State] != 0
}

func sortedKeys[K interface{ ~int | ~string }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type replicatedUpdater struct {
	// slotMap maps task slots onto 1..replicas, so lines stay in order.
	slotMap     map[int]int
	initialized bool
	done        bool
}

func (u *replicatedUpdater) update(obs Observation, rollback bool) ([]Update, bool, error) {
	// Swarm's default when a spec leaves the count out.
	replicas := uint64(1)
	if r := obs.Service.Spec.Mode.Replicated.Replicas; r != nil {
		replicas = *r
	}
	var out []Update
	if !u.initialized {
		out = append(out, overall(0, int(replicas), rollback))
		if replicas <= maxProgressBars {
			for i := uint64(1); i <= replicas; i++ {
				out = append(out, Update{ID: fmt.Sprintf("%d/%d", i, replicas), Text: " "})
			}
		}
		u.initialized = true
	}

	bySlot := map[int]swarm.Task{}
	for _, t := range obs.Tasks {
		if !known(t) {
			continue
		}
		if existing, ok := bySlot[t.Slot]; ok && !better(t, existing) {
			continue
		}
		if t.NodeID != "" {
			if _, active := obs.ActiveNodes[t.NodeID]; !active {
				continue
			}
		}
		bySlot[t.Slot] = t
	}
	if u.done {
		for _, t := range bySlot {
			if t.Status.State != swarm.TaskStateRunning {
				u.done = false
				break
			}
		}
	}
	running := uint64(0)
	for _, slot := range sortedKeys(bySlot) {
		t := bySlot[slot]
		mapped, ok := u.slotMap[slot]
		if !ok {
			mapped = len(u.slotMap) + 1
			u.slotMap[slot] = mapped
		}
		if !terminal(t.DesiredState) && t.Status.State == swarm.TaskStateRunning {
			running++
		}
		if u.done || replicas > maxProgressBars || uint64(mapped) > replicas {
			continue
		}
		if line, ok := taskLine(fmt.Sprintf("%d/%d", mapped, replicas), t, maxProgress); ok {
			out = append(out, line)
		}
	}
	if !u.done {
		out = append(out, overall(int(running), int(replicas), rollback))
		if running == replicas {
			u.done = true
		}
	}
	return out, running == replicas, nil
}

type globalUpdater struct {
	initialized bool
	done        bool
}

func (u *globalUpdater) update(obs Observation, rollback bool) ([]Update, bool, error) {
	byNode := map[string]swarm.Task{}
	for _, t := range obs.Tasks {
		if !known(t) {
			continue
		}
		if existing, ok := byNode[t.NodeID]; ok && !better(t, existing) {
			continue
		}
		byNode[t.NodeID] = t
	}
	// The orchestrator creates the tasks for every eligible node at once, so
	// the up-to-date tasks tell how many nodes the service runs on.
	nodeCount := len(byNode)
	var out []Update
	if !u.initialized {
		if nodeCount == 0 {
			return []Update{{ID: "overall progress", Text: "waiting for new tasks"}}, false, nil
		}
		out = append(out, overall(0, nodeCount, rollback))
		u.initialized = true
	}
	if u.done {
		for _, t := range byNode {
			if t.Status.State != swarm.TaskStateRunning {
				u.done = false
				break
			}
		}
	}
	running := 0
	for _, node := range sortedKeys(byNode) {
		t := byNode[node]
		if _, active := obs.ActiveNodes[node]; !active {
			continue
		}
		if !terminal(t.DesiredState) && t.Status.State == swarm.TaskStateRunning {
			running++
		}
		if u.done || nodeCount > maxProgressBars {
			continue
		}
		if line, ok := taskLine(shortID(node), t, maxProgress); ok {
			out = append(out, line)
		}
	}
	if !u.done {
		out = append(out, overall(running, nodeCount, rollback))
		if running == nodeCount {
			u.done = true
		}
	}
	return out, running == nodeCount, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// replicatedJobUpdater shows how many of the job's completions are done, and
// how many tasks are active out of those allowed to run at once.
type replicatedJobUpdater struct {
	iteration      uint64
	concurrent     int
	total          int
	initialized    bool
	progressDigits int
	activeDigits   int
}

func newReplicatedJobUpdater(svc swarm.Service) *replicatedJobUpdater {
	job := svc.Spec.Mode.ReplicatedJob
	total, concurrent := 1, 1
	if job.TotalCompletions != nil {
		total = int(*job.TotalCompletions)
	}
	if job.MaxConcurrent != nil {
		concurrent = int(*job.MaxConcurrent)
	}
	u := &replicatedJobUpdater{
		concurrent:     concurrent,
		total:          total,
		progressDigits: len(strconv.Itoa(total)),
		activeDigits:   len(strconv.Itoa(concurrent)),
	}
	if svc.JobStatus != nil {
		u.iteration = svc.JobStatus.JobIteration.Index
	}
	return u
}

func (u *replicatedJobUpdater) update(obs Observation, _ bool) ([]Update, bool, error) {
	var out []Update
	if !u.initialized {
		out = append(out, u.overall(0, 0)...)
		if u.total <= maxProgressBars {
			for i := 1; i <= u.total; i++ {
				out = append(out, Update{ID: fmt.Sprintf("%d/%d", i, u.total), Text: " "})
			}
		}
		u.initialized = true
	}
	bySlot := map[int]swarm.Task{}
	for _, t := range obs.Tasks {
		if t.JobIteration == nil || t.JobIteration.Index != u.iteration || !known(t) {
			continue
		}
		if existing, ok := bySlot[t.Slot]; !ok || stateOrder[existing.Status.State] > stateOrder[t.Status.State] {
			bySlot[t.Slot] = t
		}
	}
	active, complete := 0, 0
	for _, slot := range sortedKeys(bySlot) {
		t := bySlot[slot]
		if u.total <= maxProgressBars {
			out = append(out, jobTaskLine(fmt.Sprintf("%d/%d", t.Slot+1, u.total), t))
		}
		if stateOrder[t.Status.State] < stateOrder[swarm.TaskStateComplete] {
			active++
		}
		if t.Status.State == swarm.TaskStateComplete {
			complete++
		}
	}
	out = append(out, u.overall(active, complete)...)
	return out, complete == u.total, nil
}

func (u *replicatedJobUpdater) overall(active, complete int) []Update {
	allowed := min(u.total-complete, u.concurrent)
	return []Update{
		{ID: "job progress", Text: fmt.Sprintf("%*d out of %d complete", u.progressDigits, complete, u.total), Current: int64(complete), Total: int64(u.total)},
		{ID: "active tasks", Text: fmt.Sprintf("%[1]*[2]d out of %[1]*[3]d tasks", u.activeDigits, active, allowed)},
	}
}

func jobTaskLine(id string, t swarm.Task) Update {
	if t.Status.Err != "" {
		return Update{ID: id, Text: truncError(t.Status.Err)}
	}
	return Update{ID: id, Text: fmt.Sprintf("%-*s", stateWidth, t.Status.State), Current: stateOrder[t.Status.State], Total: maxJobProgress}
}

// globalJobUpdater follows a global job on the nodes that had tasks when it
// started; nodes joining later are not waited for.
type globalJobUpdater struct {
	initialized    bool
	total          int
	progressDigits int
	nodes          map[string]bool
}

func (u *globalJobUpdater) update(obs Observation, _ bool) ([]Update, bool, error) {
	iteration := uint64(0)
	if obs.Service.JobStatus != nil {
		iteration = obs.Service.JobStatus.JobIteration.Index
	}
	inIteration := func(t swarm.Task) bool { return t.JobIteration != nil && t.JobIteration.Index == iteration }
	var out []Update
	if !u.initialized {
		if len(obs.Tasks) == 0 && len(obs.ActiveNodes) != 0 {
			return []Update{{ID: "job progress", Text: "waiting for tasks"}}, false, nil
		}
		u.nodes = map[string]bool{}
		for _, t := range obs.Tasks {
			if inIteration(t) {
				u.nodes[t.NodeID] = true
			}
		}
		u.total = len(u.nodes)
		u.progressDigits = len(strconv.Itoa(u.total))
		out = append(out, u.overall(0))
		u.initialized = true
	}
	byNode := map[string]swarm.Task{}
	for _, t := range obs.Tasks {
		if !inIteration(t) || !u.nodes[t.NodeID] {
			continue
		}
		if existing, ok := byNode[t.NodeID]; !ok || stateOrder[existing.Status.State] > stateOrder[t.Status.State] {
			byNode[t.NodeID] = t
		}
	}
	complete := 0
	for _, node := range sortedKeys(byNode) {
		t := byNode[node]
		if u.total <= maxProgressBars {
			out = append(out, jobTaskLine(node, t))
		}
		if t.Status.State == swarm.TaskStateComplete {
			complete++
		}
	}
	out = append(out, u.overall(complete))
	return out, complete == u.total, nil
}

func (u *globalJobUpdater) overall(complete int) Update {
	return Update{
		ID:      "job progress",
		Text:    fmt.Sprintf("%*d out of %d complete", u.progressDigits, complete, u.total),
		Current: int64(complete), Total: int64(u.total),
	}
}
