package node

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"github.com/shoal-project/shoal/internal/filters"

	"github.com/shoal-project/shoal/internal/backup"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/testutil/plaintext"
)

// swarmObjects is what `docker service ls`, `secret ls` and `config ls`
// show of a swarm, with IDs and versions.
func swarmObjects(t *testing.T, tn *testNode) string {
	t.Helper()
	api := tn.api()
	var b strings.Builder
	services, err := api.ListServices(t.Context(), filters.New(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		if s.Spec.Name == "busy" {
			continue
		}
		fmt.Fprintf(&b, "service %s %s v%d\n", s.ID, s.Spec.Name, s.Version.Index)
	}
	secrets, err := api.ListSecrets(t.Context(), filters.New())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		fmt.Fprintf(&b, "secret %s %s v%d\n", s.ID, s.Spec.Name, s.Version.Index)
	}
	configs, err := api.ListConfigs(t.Context(), filters.New())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range configs {
		fmt.Fprintf(&b, "config %s %s v%d %s\n", c.ID, c.Spec.Name, c.Version.Index, c.Spec.Data)
	}
	return b.String()
}

// TestBackupAndRestore backs up a swarm of a manager and a worker while
// it is being written to, restores it on a fresh node, and checks that
// the restored swarm has the same services, secrets (data included) and
// configs, that the restored node leads alone and runs the service while
// the backup's nodes are down, and that the backup holds no secret in the
// clear.
func TestBackupAndRestore(t *testing.T) {
	for _, autolock := range []bool{false, true} {
		t.Run(fmt.Sprintf("autolock=%v", autolock), func(t *testing.T) {
			m1, w1 := newTestNode(t, "m1"), newTestNode(t, "w1")
			spec := testSpec()
			spec.EncryptionConfig.AutoLockManagers = autolock
			m1.init(spec)
			w1.join(m1, swarm.NodeRoleWorker)
			secretValue := []byte("backup-secret-plaintext-7f3a")
			secretID, err := m1.api().CreateSecret(t.Context(), swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db-password"}, Data: secretValue})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m1.api().CreateConfig(t.Context(), swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app-conf"}, Data: []byte("level=debug")}); err != nil {
				t.Fatal(err)
			}
			serviceID, err := m1.api().CreateService(t.Context(), swarm.ServiceSpec{
				Annotations: swarm.Annotations{Name: "web"},
				TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox",
					Secrets: []*swarm.SecretReference{{SecretID: secretID, SecretName: "db-password",
						File: &swarm.SecretReferenceFileTarget{Name: "db-password", UID: "0", GID: "0", Mode: 0o400}}}}},
			})
			if err != nil {
				t.Fatal(err)
			}

			// Writes go on while the backup is taken.
			var wg sync.WaitGroup
			stop := make(chan struct{})
			_, mgr, _, _ := m1.node.snapshot()
			busy := func(i int) error {
				return mgr.store.Update(t.Context(), func(tx *store.WriteTx) error {
					return tx.Put(&store.Service{Service: swarm.Service{ID: "busy", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "busy", Labels: map[string]string{"i": fmt.Sprint(i)}}}}})
				})
			}
			if err := busy(0); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				for i := 1; ; i++ {
					select {
					case <-stop:
						return
					default:
						busy(i)
					}
				}
			})
			before := swarmObjects(t, m1)
			data, err := m1.node.Backup(t.Context())
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range plaintext.Forms(secretValue) {
				if bytes.Contains(data, f.Bytes) {
					t.Errorf("the backup holds the secret's value as %s", f.Name)
				}
			}
			h, err := backup.ReadHeader(bytes.NewReader(data))
			if err != nil || h.Autolocked != autolock || h.TakenOn != m1.id() {
				t.Fatalf("backup header %+v, %v; want autolocked=%v taken on %s", h, err, autolock, m1.id())
			}

			r := newTestNode(t, "r")
			req := backup.RestoreRequest{ListenAddr: r.addr, AdvertiseAddr: r.addr}
			if autolock {
				_, err := r.node.Restore(t.Context(), req, bytes.NewReader(data))
				if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), "--unlock-key") {
					t.Fatalf("restore of an autolocked backup without the key: got %v", err)
				}
				req.UnlockKey = controlapi.NewUnlockKey()
				if _, err := r.node.Restore(t.Context(), req, bytes.NewReader(data)); !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("restore with another unlock key: got %v, want invalid", err)
				}
				if req.UnlockKey, err = m1.api().UnlockKey(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			rid, err := r.node.Restore(t.Context(), req, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if rid == m1.id() || rid == w1.id() {
				t.Errorf("the restored node took the ID %s of a node of the backup", rid)
			}
			if _, err := r.node.Restore(t.Context(), req, bytes.NewReader(data)); !errdefs.Is(err, errdefs.KindUnavailable) {
				t.Errorf("a second restore on a node in a swarm: got %v, want unavailable", err)
			}
			if got := swarmObjects(t, r); got != before {
				t.Errorf("restored swarm differs (-before +restored):\n%s", cmp.Diff(before, got))
			}
			if !hasService(r, "busy") {
				t.Error("the service written around the backup is not in it")
			}
			var stored *swarm.Secret
			if _, mgr, _, _ := r.node.snapshot(); mgr != nil {
				mgr.store.View(func(tx store.ReadTx) {
					if s := store.Get[*store.Secret](tx, secretID); s != nil {
						stored = &s.Secret
					}
				})
			}
			if stored == nil || !bytes.Equal(stored.Spec.Data, secretValue) {
				t.Errorf("restored secret %+v, want its data kept", stored)
			}
			if hits := filesContaining(t, r.node.dir, string(secretValue)); len(hits) > 0 {
				t.Errorf("the restored manager keeps the secret in the clear in %v", hits)
			}
			if v := r.voters(); !cmp.Equal(v, []string{rid}) {
				t.Errorf("raft voters %v, want the restored node alone", v)
			}
			for _, old := range []*testNode{m1, w1} {
				n := r.storedNode(old.id())
				if n == nil || n.Status.State != swarm.NodeStateDown || n.ManagerStatus != nil || n.Spec.Role != swarm.NodeRoleWorker {
					t.Errorf("%s in the restored swarm: %+v, want a down worker", old.name, n)
				}
			}
			// The restored node runs the service now that the others are down.
			eventually(t, 20*time.Second, func() string {
				tasks, err := r.api().ListTasks(t.Context(), filters.New([2]string{"service", serviceID}, [2]string{"desired-state", "running"}))
				if err != nil {
					return err.Error()
				}
				for _, tk := range tasks {
					if tk.NodeID == rid && tk.Status.State == swarm.TaskStateRunning {
						return ""
					}
				}
				return fmt.Sprintf("no task of web runs on the restored node: %d tasks", len(tasks))
			})
			if autolock {
				waitSealed(t, sealedFiles, r)
				r.restart()
				if info := r.node.Info(t.Context()); info.LocalNodeState != swarm.LocalNodeStateLocked {
					t.Errorf("restored autolocked manager after a restart: %s, want locked", info.LocalNodeState)
				}
			}
		})
	}
}

func TestRestoredNodes(t *testing.T) {
	mgr := &store.Node{Node: swarm.Node{ID: "m", Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityDrain},
		Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "10.0.0.1"},
		ManagerStatus: &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: "10.0.0.1:2377"}}}
	worker := &store.Node{Node: swarm.Node{ID: "w", Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "10.0.0.2"}}}
	got := restoredNodes([]*store.Node{mgr, worker})
	want := []*store.Node{
		{Node: swarm.Node{ID: "m", Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityDrain},
			Status: swarm.NodeStatus{State: swarm.NodeStateDown, Message: restoredNodeMessage, Addr: "10.0.0.1"}}},
		{Node: swarm.Node{ID: "w", Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive},
			Status: swarm.NodeStatus{State: swarm.NodeStateDown, Message: restoredNodeMessage, Addr: "10.0.0.2"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restored nodes (-want +got):\n%s", diff)
	}
	if mgr.ManagerStatus == nil || mgr.Status.State != swarm.NodeStateReady {
		t.Error("restoredNodes changed the stored objects it was given")
	}
}
