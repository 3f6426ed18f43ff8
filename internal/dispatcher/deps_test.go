package dispatcher

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/store"
)

func dependencyNames(set AssignmentSet) (secrets, configs []string) {
	for _, s := range set.Secrets {
		secrets = append(secrets, s.ID+"="+string(s.Spec.Data))
	}
	for _, c := range set.Configs {
		configs = append(configs, c.ID+"="+string(c.Spec.Data))
	}
	return secrets, configs
}

// A node receives the secrets and configs of its tasks, with their data,
// and no other; once its last task using one ends, a full set leaves it
// out.
func TestSessionSecretsAndConfigs(t *testing.T) {
	m := newTestManager(t, Config{}, true)
	a, b := m.addNode(t, ca.WorkerRole), m.addNode(t, ca.WorkerRole)
	relabel := func(id string) {
		t.Helper()
		m.update(t, func(tx *store.WriteTx) error {
			c := store.Clone(store.Get[*store.Secret](tx.ReadTx, id))
			c.Spec.Labels = map[string]string{"relabelled": "yes"}
			return tx.Put(c)
		})
	}
	m.update(t, func(tx *store.WriteTx) error {
		return errors.Join(tx.Put(secret("s1", "")), tx.Put(secret("s2", "")), tx.Put(config("c1")))
	})
	msgsA, _ := openSession(t, t.Context(), m.client(t, &a), nil)
	msgsB, _ := openSession(t, t.Context(), m.client(t, &b), nil)
	for name, msgs := range map[string]<-chan *SessionMessage{"a": msgsA, "b": msgsB} {
		if got := recv(t, msgs).Assignments; len(got.Secrets) != 0 || len(got.Configs) != 0 {
			t.Errorf("node %s first message got secrets %v configs %v, want none", name, got.Secrets, got.Configs)
		}
	}

	m.putTasks(t, using("ta", a.ID, swarm.TaskStateAssigned, []string{"s1"}, []string{"c1"}))
	got := recv(t, msgsA).Assignments
	secrets, configs := dependencyNames(got)
	if got.Full || !cmp.Equal(taskIDs(got), []string{"ta"}) || !cmp.Equal(secrets, []string{"s1=data of s1"}) || !cmp.Equal(configs, []string{"c1=data of c1"}) {
		t.Fatalf("a's task assigned: got full %v, tasks %v, secrets %v, configs %v; want ta with s1 and c1 and their data", got.Full, taskIDs(got), secrets, configs)
	}

	relabel("s1")
	got = recv(t, msgsA).Assignments
	if len(got.Tasks) != 0 || len(got.Secrets) != 1 || got.Secrets[0].Spec.Labels["relabelled"] != "yes" {
		t.Fatalf("s1 relabelled: got tasks %v, secrets %+v; want s1 alone, relabelled", taskIDs(got), got.Secrets)
	}

	// s2 is nobody's: relabelling it sends nothing, so the next message
	// is the task's end, which leaves a's secrets and configs empty.
	relabel("s2")
	m.update(t, func(tx *store.WriteTx) error {
		c := store.Clone(store.Get[*store.Task](tx.ReadTx, "ta"))
		c.Status = swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "task: non-zero exit (1)"}
		return tx.Put(c)
	})
	got = recv(t, msgsA).Assignments
	if !got.Full || !cmp.Equal(taskIDs(got), []string{"ta"}) || len(got.Secrets) != 0 || len(got.Configs) != 0 {
		t.Errorf("a's task ended: got full %v, tasks %v, secrets %v, configs %v; want the full set without secrets or configs", got.Full, taskIDs(got), got.Secrets, got.Configs)
	}

	// b was told nothing of all this: its next message is its own task.
	m.putTasks(t, assigned("tb", b.ID))
	got = recv(t, msgsB).Assignments
	if !cmp.Equal(taskIDs(got), []string{"tb"}) || len(got.Secrets) != 0 || len(got.Configs) != 0 {
		t.Errorf("b got tasks %v, secrets %v, configs %v; want its own task alone", taskIDs(got), got.Secrets, got.Configs)
	}
}
