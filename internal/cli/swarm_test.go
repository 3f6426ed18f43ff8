package cli

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/shoal-project/shoal/internal/cli/internal/fakeapi"
)

func TestSwarmInit(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, req swarm.InitRequest)
	}{
		{
			name: "defaults",
			args: []string{"swarm", "init"},
			check: func(t *testing.T, req swarm.InitRequest) {
				if req.ListenAddr != "0.0.0.0:2377" || req.Availability != swarm.NodeAvailabilityActive {
					t.Errorf("got listen %q availability %q, want 0.0.0.0:2377 and active", req.ListenAddr, req.Availability)
				}
				if req.Spec.Orchestration.TaskHistoryRetentionLimit != nil || req.Spec.Dispatcher.HeartbeatPeriod != 0 {
					t.Errorf("got spec %+v, want flags not given left to the daemon", req.Spec)
				}
			},
		},
		{
			name: "flags",
			args: []string{"swarm", "init", "--advertise-addr", "10.0.0.1", "--listen-addr", "10.0.0.1:2377", "--data-path-addr", "10.1.0.1",
				"--task-history-limit", "2", "--dispatcher-heartbeat", "3s", "--cert-expiry", "48h", "--force-new-cluster", "--availability", "drain"},
			check: func(t *testing.T, req swarm.InitRequest) {
				if req.AdvertiseAddr != "10.0.0.1" || req.ListenAddr != "10.0.0.1:2377" || req.DataPathAddr != "10.1.0.1" {
					t.Errorf("got addresses %q %q %q", req.AdvertiseAddr, req.ListenAddr, req.DataPathAddr)
				}
				if l := req.Spec.Orchestration.TaskHistoryRetentionLimit; l == nil || *l != 2 {
					t.Errorf("got task history limit %v, want 2", l)
				}
				if req.Spec.Dispatcher.HeartbeatPeriod != 3*time.Second || req.Spec.CAConfig.NodeCertExpiry != 48*time.Hour {
					t.Errorf("got heartbeat %s cert expiry %s, want 3s and 48h", req.Spec.Dispatcher.HeartbeatPeriod, req.Spec.CAConfig.NodeCertExpiry)
				}
				if !req.ForceNewCluster || req.Availability != swarm.NodeAvailabilityDrain {
					t.Errorf("got force %v availability %q, want true and drain", req.ForceNewCluster, req.Availability)
				}
			},
		},
		{
			name: "autolock",
			args: []string{"swarm", "init", "--autolock"},
			check: func(t *testing.T, req swarm.InitRequest) {
				if !req.AutoLockManagers || !req.Spec.EncryptionConfig.AutoLockManagers {
					t.Errorf("got autolock %v / spec %v, want both true", req.AutoLockManagers, req.Spec.EncryptionConfig.AutoLockManagers)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeapi.New(t)
			r := shoal(t, srv, "", tt.args...)
			checkGolden(t, "swarm-init-"+tt.name, r)
			reqs := srv.Find("POST", "/swarm/init")
			if len(reqs) != 1 {
				t.Fatalf("got %d POST /swarm/init, want 1", len(reqs))
			}
			var req swarm.InitRequest
			reqs[0].Decode(t, &req)
			tt.check(t, req)
		})
	}
}

func TestSwarmInitBadAvailability(t *testing.T) {
	srv := fakeapi.New(t)
	r := shoal(t, srv, "", "swarm", "init", "--availability", "sometimes")
	if r.err == nil || len(srv.Find("POST", "/swarm/init")) != 0 {
		t.Errorf("got error %v and %d init requests, want an error and none", r.err, len(srv.Find("POST", "/swarm/init")))
	}
}

func TestSwarmJoin(t *testing.T) {
	srv := fakeapi.New(t)
	r := shoal(t, srv, "", "swarm", "join", "--token", "SWMTKN-1-abc", "--advertise-addr", "10.0.0.2", "10.0.0.1:2377")
	checkGolden(t, "swarm-join", r)
	var req swarm.JoinRequest
	srv.Find("POST", "/swarm/join")[0].Decode(t, &req)
	if req.JoinToken != "SWMTKN-1-abc" || len(req.RemoteAddrs) != 1 || req.RemoteAddrs[0] != "10.0.0.1:2377" || req.AdvertiseAddr != "10.0.0.2" {
		t.Errorf("got join request %+v", req)
	}
}

func TestSwarmLeave(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		force string
	}{
		{"manager refused", []string{"swarm", "leave"}, ""},
		{"forced", []string{"swarm", "leave", "--force"}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := swarmServer(t)
			r := shoal(t, srv, "", tt.args...)
			checkGolden(t, "swarm-leave-"+map[string]string{"": "refused", "1": "forced"}[tt.force], r)
			if got := srv.Find("POST", "/swarm/leave")[0].Query.Get("force"); got != tt.force {
				t.Errorf("got force=%q, want %q", got, tt.force)
			}
		})
	}
}

func TestSwarmJoinToken(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		rotate string
	}{
		{"worker", []string{"swarm", "join-token", "worker"}, ""},
		{"manager", []string{"swarm", "join-token", "manager"}, ""},
		{"quiet", []string{"swarm", "join-token", "-q", "worker"}, ""},
		{"rotate", []string{"swarm", "join-token", "--rotate", "manager"}, "rotateManagerToken"},
		{"unknown role", []string{"swarm", "join-token", "admin"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := swarmServer(t)
			r := shoal(t, srv, "", tt.args...)
			checkGolden(t, "swarm-join-token-"+tt.name, r)
			updates := srv.Find("POST", "/swarm/update")
			if tt.rotate == "" {
				if len(updates) != 0 {
					t.Errorf("got %d swarm updates, want none", len(updates))
				}
				return
			}
			if len(updates) != 1 || updates[0].Query.Get(tt.rotate) != "true" || updates[0].Query.Get("version") != "42" {
				t.Errorf("got updates %+v, want one with %s=true at version 42", updates, tt.rotate)
			}
		})
	}
}

func TestSwarmUpdate(t *testing.T) {
	srv := swarmServer(t)
	srv.Swarm.Spec.Dispatcher.HeartbeatPeriod = 5 * time.Second
	r := shoal(t, srv, "", "swarm", "update", "--task-history-limit", "10", "--autolock")
	checkGolden(t, "swarm-update", r)
	var spec swarm.Spec
	srv.Find("POST", "/swarm/update")[0].Decode(t, &spec)
	if l := spec.Orchestration.TaskHistoryRetentionLimit; l == nil || *l != 10 {
		t.Errorf("got task history limit %v, want 10", l)
	}
	if spec.Dispatcher.HeartbeatPeriod != 5*time.Second || !spec.EncryptionConfig.AutoLockManagers {
		t.Errorf("got heartbeat %s autolock %v, want the current 5s kept and autolock on", spec.Dispatcher.HeartbeatPeriod, spec.EncryptionConfig.AutoLockManagers)
	}
}

func TestSwarmUnlock(t *testing.T) {
	tests := []struct {
		name  string
		state swarm.LocalNodeState
		stdin string
	}{
		{"locked", swarm.LocalNodeStateLocked, "SWMKEY-1-unlock\n"},
		{"wrong key", swarm.LocalNodeStateLocked, "SWMKEY-1-nope\n"},
		{"not locked", swarm.LocalNodeStateActive, "SWMKEY-1-unlock\n"},
		{"not in a swarm", swarm.LocalNodeStateInactive, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := swarmServer(t)
			srv.UnlockKey = "SWMKEY-1-unlock"
			srv.Info.Swarm.LocalNodeState = tt.state
			r := shoal(t, srv, tt.stdin, "swarm", "unlock")
			checkGolden(t, "swarm-unlock-"+tt.name, r)
			reqs := srv.Find("POST", "/swarm/unlock")
			if tt.state != swarm.LocalNodeStateLocked {
				if len(reqs) != 0 {
					t.Errorf("got %d unlock requests, want none", len(reqs))
				}
				return
			}
			var req swarm.UnlockRequest
			reqs[0].Decode(t, &req)
			if want := tt.stdin[:len(tt.stdin)-1]; req.UnlockKey != want {
				t.Errorf("got unlock key %q, want %q", req.UnlockKey, want)
			}
		})
	}
}

func TestSwarmUnlockKey(t *testing.T) {
	tests := []struct {
		name     string
		autolock bool
		args     []string
	}{
		{"show", true, []string{"swarm", "unlock-key"}},
		{"quiet", true, []string{"swarm", "unlock-key", "-q"}},
		{"rotate", true, []string{"swarm", "unlock-key", "--rotate"}},
		{"rotate without autolock", false, []string{"swarm", "unlock-key", "--rotate"}},
		{"none set", false, []string{"swarm", "unlock-key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := swarmServer(t)
			if tt.autolock {
				srv.Swarm.Spec.EncryptionConfig.AutoLockManagers = true
				srv.UnlockKey = "SWMKEY-1-unlock"
			}
			r := shoal(t, srv, "", tt.args...)
			checkGolden(t, "swarm-unlock-key-"+tt.name, r)
		})
	}
}
