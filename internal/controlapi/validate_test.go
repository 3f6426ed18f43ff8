package controlapi

import (
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

func ptr[T any](v T) *T { return &v }

// validSpec is a minimal spec every test adjusts.
func validSpec(name string) swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:latest"}},
	}
}

func TestNormalizeServiceSpecRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(*swarm.ServiceSpec)
		kind   errdefs.Kind
		msg    string
	}{
		{"bad name", func(s *swarm.ServiceSpec) { s.Name = "-web" }, errdefs.KindInvalid, "InvalidArgument desc = name must be valid as a DNS name component"},
		{"long name", func(s *swarm.ServiceSpec) { s.Name = strings.Repeat("a", 64) }, errdefs.KindInvalid, "name must be 63 characters or fewer"},
		{"bad image", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "BAD:Image::ref" }, errdefs.KindInvalid,
			`rpc error: code = InvalidArgument desc = ContainerSpec: "BAD:Image::ref" is not a valid repository/tag`},
		{"no image", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "" }, errdefs.KindInvalid, "image reference must be provided"},
		{"no container spec", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec = nil }, errdefs.KindInvalid, "TaskTemplate.ContainerSpec is missing"},
		{"plugin runtime", func(s *swarm.ServiceSpec) { s.TaskTemplate.Runtime = "plugin" }, errdefs.KindInvalid, `unsupported runtime type: "plugin"`},
		{"global with replicas", func(s *swarm.ServiceSpec) {
			s.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}, Replicated: &swarm.ReplicatedService{Replicas: ptr(uint64(3))}}
		}, errdefs.KindInvalid, "Mode.Replicated, Mode.Global"},
		{"restart condition", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: "sometimes"}
		}, errdefs.KindInvalid, "RestartPolicy.Condition"},
		{"restart delay", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Delay: ptr(-time.Second)}
		}, errdefs.KindInvalid, "restart-delay cannot be negative"},
		{"restart window", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Window: ptr(-time.Second)}
		}, errdefs.KindInvalid, "restart-window cannot be negative"},
		{"constraint operator", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.role=manager"}}
		}, errdefs.KindInvalid, "constraint expected one operator from ==, !="},
		{"constraint key", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"no de==x"}}
		}, errdefs.KindInvalid, "key 'no de' is invalid"},
		{"failure action", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{FailureAction: "explode"} }, errdefs.KindInvalid, "UpdateConfig.FailureAction"},
		{"update order", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{Order: "sideways"} }, errdefs.KindInvalid, "UpdateConfig.Order"},
		{"rollback ratio", func(s *swarm.ServiceSpec) { s.RollbackConfig = &swarm.UpdateConfig{MaxFailureRatio: 1.5} }, errdefs.KindInvalid, "RollbackConfig.MaxFailureRatio"},
		{"update delay", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{Delay: -1} }, errdefs.KindInvalid, "update-delay cannot be negative"},
		{"update monitor", func(s *swarm.ServiceSpec) { s.UpdateConfig = &swarm.UpdateConfig{Monitor: -1} }, errdefs.KindInvalid, "update-monitor cannot be negative"},
		{"negative cpu", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{NanoCPUs: -1}}
		}, errdefs.KindInvalid, "Resources.Limits.NanoCPUs"},
		{"negative memory reservation", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{MemoryBytes: -5}}
		}, errdefs.KindInvalid, "Resources.Reservations.MemoryBytes"},
		{"negative pids", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{Pids: -1}}
		}, errdefs.KindInvalid, "Resources.Limits.Pids"},
		{"port protocol", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, Protocol: "icmp"}}}
		}, errdefs.KindInvalid, `invalid protocol "icmp"`},
		{"port range", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 70000}}}
		}, errdefs.KindInvalid, "published port 70000 is out of range"},
		{"duplicate ports", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080}, {TargetPort: 81, PublishedPort: 8080}}}
		}, errdefs.KindInvalid, "duplicate published ports provided"},
		{"dnsrr ingress", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR, Ports: []swarm.PortConfig{{TargetPort: 80}}}
		}, errdefs.KindInvalid, "can't be used with dnsrr mode"},
		{"resolution mode", func(s *swarm.ServiceSpec) { s.EndpointSpec = &swarm.EndpointSpec{Mode: "anycast"} }, errdefs.KindInvalid, "EndpointSpec.Mode"},
		{"duplicate mount", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeTmpfs, Target: "/a"}, {Type: mount.TypeTmpfs, Target: "/a"}}
		}, errdefs.KindInvalid, "duplicate mount point: /a"},
		{"bind without source", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeBind, Target: "/a"}}
		}, errdefs.KindInvalid, "field Source must not be empty"},
		{"relative target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Target: "data"}}
		}, errdefs.KindInvalid, "mount path must be absolute"},
		{"volume name", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "a b", Target: "/a"}}
		}, errdefs.KindInvalid, `invalid mount config for type "volume": Source: "a b" includes invalid characters for a local volume name`},
		{"volume driver", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "data", Target: "/a",
				VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: "flocker"}}}}
		}, errdefs.KindInvalid, `VolumeOptions.DriverConfig.Name: error looking up volume plugin flocker: plugin "flocker" not found`},
		{"volume option", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "data", Target: "/a",
				VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Options: map[string]string{"type": "nfs"}}}}}
		}, errdefs.KindInvalid, `VolumeOptions.DriverConfig.Options: missing required option: "device"`},
		{"volume name from a template", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "{{.Service.Name}}/x", Target: "/a"}}
		}, errdefs.KindInvalid, `Source: "web/x" includes invalid characters`},
		{"mount type", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: "npipe", Target: "/a"}}
		}, errdefs.KindInvalid, "mount type unknown"},
		{"hostname template that does not parse", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Hostname = "{{.Service.Name}-{{.Task.Slot}}" }, errdefs.KindInvalid,
			`InvalidArgument desc = template: ContainerSpec.Hostname:1: bad character U+007D '}'`},
		{"env template with an unknown field", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Env = []string{"A={{.Task.Number}}"} }, errdefs.KindInvalid,
			`template: ContainerSpec.Env[A]:1:7: executing "ContainerSpec.Env[A]" at <.Task.Number>: can't evaluate field Number`},
		{"mount template with a label the service lacks", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "{{.Service.Labels.vol}}", Target: "/a"}}
		}, errdefs.KindInvalid, `template: ContainerSpec.Mounts[0].Source:1:10: executing "ContainerSpec.Mounts[0].Source" at <.Service.Labels.vol>: map has no entry for key "vol"`},
		{"bind source relative once expanded", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: "{{.Service.Name}}/data", Target: "/a"}}
		}, errdefs.KindInvalid, "invalid mount path: 'web/data' mount path must be absolute"},
		{"health interval", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Interval: -time.Second}
		}, errdefs.KindInvalid, "Interval in HealthConfig cannot be less than 1ms"},
		{"health retries", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Retries: -1}
		}, errdefs.KindInvalid, "Retries in HealthConfig cannot be negative"},
		{"stop grace", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopGracePeriod = ptr(-time.Second) }, errdefs.KindInvalid, "StopGracePeriod"},
		{"secret without ID", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretName: "pw", File: fileTarget("pw")}}
		}, errdefs.KindInvalid, "InvalidArgument desc = malformed secret reference"},
		{"nil secret", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{nil}
		}, errdefs.KindInvalid, "malformed secret reference"},
		{"secret without target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretName: "pw", SecretID: "x"}}
		}, errdefs.KindInvalid, "malformed secret reference, no target provided (secret pw: File)"},
		{"secret empty target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef("x", "pw", "")}
		}, errdefs.KindInvalid, "malformed file secret reference, invalid target file name provided (secret pw: File.Name)"},
		{"secret target climbs out", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef("x", "pw", "../../etc/passwd")}
		}, errdefs.KindInvalid, `File.Name "../../etc/passwd" must not contain '..'`},
		{"secret uid", func(s *swarm.ServiceSpec) {
			r := secretRef("x", "pw", "pw")
			r.File.UID = "root"
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{r}
		}, errdefs.KindInvalid, `secret pw: File.UID "root" must be a numeric ID`},
		{"duplicate secret target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef("x", "a", "t"), secretRef("y", "b", "t")}
		}, errdefs.KindInvalid, "secret references 'a' and 'b' have a conflicting target: 't'"},
		{"same file by two paths", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef("x", "a", "t"), secretRef("y", "b", "/run/secrets/t")}
		}, errdefs.KindInvalid, "secret a and secret b have a conflicting target: '/run/secrets/t'"},
		{"config without name", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigID: "x", File: &swarm.ConfigReferenceFileTarget{Name: "c"}}}
		}, errdefs.KindInvalid, "malformed config reference"},
		{"config runtime target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigID: "x", ConfigName: "cred", Runtime: &swarm.ConfigReferenceRuntimeTarget{}}}
		}, errdefs.KindInvalid, "config cred: Runtime targets (credential specs) are not supported"},
		{"config without target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigID: "x", ConfigName: "c"}}
		}, errdefs.KindInvalid, "malformed config reference, no target provided"},
		{"config empty target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{configRef("x", "c", "")}
		}, errdefs.KindInvalid, "malformed file config reference, invalid target file name provided"},
		{"duplicate config target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{configRef("x", "a", "/etc/app.conf"), configRef("y", "b", "/etc/app.conf")}
		}, errdefs.KindInvalid, "config references 'a' and 'b' have a conflicting target: '/etc/app.conf'"},
		{"secret and config on one file", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef("x", "pw", "/etc/pw")}
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{configRef("y", "c", "etc/pw")}
		}, errdefs.KindInvalid, "secret pw and config c have a conflicting target: 'etc/pw'"},
		{"unknown capability", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.CapabilityAdd = []string{"CAP_FLY"}
		}, errdefs.KindInvalid, `ContainerSpec.CapAdd: unknown capability: "CAP_FLY"`},
		{"unknown capability dropped", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.CapabilityDrop = []string{"walk"}
		}, errdefs.KindInvalid, `ContainerSpec.CapDrop: unknown capability: "CAP_WALK"`},
		{"seccomp mode", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Privileges = &swarm.Privileges{Seccomp: &swarm.SeccompOpts{Mode: "strict"}}
		}, errdefs.KindInvalid, `ContainerSpec.Privileges.Seccomp.Mode "strict"`},
		{"seccomp profile", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Privileges = &swarm.Privileges{Seccomp: &swarm.SeccompOpts{Mode: swarm.SeccompModeCustom, Profile: []byte("{")}}
		}, errdefs.KindInvalid, "ContainerSpec.Privileges.Seccomp.Profile"},
		{"SELinux label", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Privileges = &swarm.Privileges{SELinuxContext: &swarm.SELinuxContext{Type: "svirt_t"}}
		}, errdefs.KindInvalid, "ContainerSpec.Privileges.SELinuxContext"},
		{"credential spec", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Privileges = &swarm.Privileges{CredentialSpec: &swarm.CredentialSpec{File: "x.json"}}
		}, errdefs.KindInvalid, "ContainerSpec.Privileges.CredentialSpec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := validSpec("web")
			tt.change(&spec)
			_, err := normalizeServiceSpec(spec)
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tt.msg)
			}
			if !strings.Contains(err.Error(), tt.msg) || errdefs.KindOf(err) != tt.kind {
				t.Fatalf("got %v (kind %v), want kind %v and a message containing %q", err, errdefs.KindOf(err), tt.kind, tt.msg)
			}
		})
	}
}

func TestNormalizeServiceSpecKeepsTemplates(t *testing.T) {
	spec := validSpec("web")
	spec.Labels = map[string]string{"root": "/srv"}
	cs := spec.TaskTemplate.ContainerSpec
	cs.Hostname = "{{.Service.Name}}-{{.Task.Slot}}"
	cs.Env = []string{"NODE={{.Node.Hostname}}"}
	cs.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: "{{.Service.Labels.root}}/{{.Task.Slot}}", Target: "/data"}}
	got, err := normalizeServiceSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	gc := got.TaskTemplate.ContainerSpec
	if gc.Hostname != cs.Hostname || gc.Env[0] != cs.Env[0] || gc.Mounts[0].Source != cs.Mounts[0].Source {
		t.Errorf("stored %+v, want the templates as given: they are expanded on the node", gc)
	}
}

func fileTarget(name string) *swarm.SecretReferenceFileTarget {
	return &swarm.SecretReferenceFileTarget{Name: name, UID: "0", GID: "0", Mode: 0o444}
}

// secretRef is a reference as the docker CLI sends it.
func secretRef(id, name, target string) *swarm.SecretReference {
	return &swarm.SecretReference{SecretID: id, SecretName: name, File: fileTarget(target)}
}

func configRef(id, name, target string) *swarm.ConfigReference {
	return &swarm.ConfigReference{ConfigID: id, ConfigName: name, File: &swarm.ConfigReferenceFileTarget{Name: target, UID: "0", GID: "0", Mode: 0o444}}
}

func TestNormalizeServiceSpecAcceptsReferences(t *testing.T) {
	spec := validSpec("web")
	spec.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef("s1", "pw", "pw"), secretRef("s1", "pw", "/etc/pw"), secretRef("s2", "key", "key")}
	spec.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{configRef("c1", "app", "app"), configRef("c1", "app", "/etc/app.conf")}
	spec.TaskTemplate.ContainerSpec.Secrets[2].File.UID = ""
	if _, err := normalizeServiceSpec(spec); err != nil {
		t.Fatalf("got %v, want a secret mounted twice, an absolute target and an empty UID accepted", err)
	}
}

func TestCheckReferences(t *testing.T) {
	a, s := newAPI(t)
	pw := mustCreateSecret(t, a, "pw", "s3cret")
	app := mustCreateConfig(t, a, "app", "x=1")
	tests := []struct {
		name    string
		secrets []*swarm.SecretReference
		configs []*swarm.ConfigReference
		msg     string // empty: accepted
	}{
		{"existing", []*swarm.SecretReference{secretRef(pw, "pw", "pw")}, []*swarm.ConfigReference{configRef(app, "app", "/app")}, ""},
		{"no references", nil, nil, ""},
		{"unknown secret", []*swarm.SecretReference{secretRef("nope", "ghost", "g")}, nil, "rpc error: code = InvalidArgument desc = secret not found: ghost"},
		{"name does not match ID", []*swarm.SecretReference{secretRef(pw, "other", "o")}, nil, "secret not found: other"},
		{"two unknown secrets", []*swarm.SecretReference{secretRef("n1", "a", "a"), secretRef(pw, "pw", "pw"), secretRef("n2", "b", "b")}, nil, "secrets not found: a, b"},
		{"unknown config", nil, []*swarm.ConfigReference{configRef("nope", "ghost", "/g")}, "config not found: ghost"},
		{"config ID given for a secret", []*swarm.SecretReference{secretRef(app, "app", "app")}, nil, "secret not found: app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := validSpec("web")
			spec.TaskTemplate.ContainerSpec.Secrets, spec.TaskTemplate.ContainerSpec.Configs = tt.secrets, tt.configs
			var err error
			s.View(func(tx store.ReadTx) { err = checkReferences(tx, spec) })
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			wantErr(t, err, errdefs.KindInvalid, tt.msg)
		})
	}
}

func TestNormalizeServiceSpecFillsDockersValues(t *testing.T) {
	spec := validSpec("web")
	spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{}
	spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 2}
	spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, Protocol: "UDP"}}}
	got, err := normalizeServiceSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Mode.Replicated; r == nil || r.Replicas == nil || *r.Replicas != 1 {
		t.Errorf("mode got %+v, want replicated with 1 replica", got.Mode)
	}
	if rp := got.TaskTemplate.RestartPolicy; rp.Condition != swarm.RestartPolicyConditionAny || rp.MaxAttempts == nil {
		t.Errorf("restart policy got %+v, want condition any and MaxAttempts 0", rp)
	}
	if uc := got.UpdateConfig; uc.FailureAction != "pause" || uc.Order != "stop-first" || uc.Parallelism != 2 {
		t.Errorf("update config got %+v, want pause/stop-first/2", uc)
	}
	if p := got.EndpointSpec.Ports[0]; p.Protocol != "udp" || p.PublishMode != "ingress" || got.EndpointSpec.Mode != "vip" {
		t.Errorf("endpoint got %+v, want udp/ingress/vip", got.EndpointSpec)
	}
	if got.TaskTemplate.Runtime != swarm.RuntimeContainer || got.TaskTemplate.ContainerSpec.Isolation != "default" {
		t.Errorf("task template got runtime %q isolation %q, want container/default", got.TaskTemplate.Runtime, got.TaskTemplate.ContainerSpec.Isolation)
	}
	if spec.TaskTemplate.RestartPolicy.Condition != "" {
		t.Error("normalizing changed the caller's spec")
	}

	job := validSpec("job")
	job.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: ptr(uint64(3))}}
	got, err = normalizeServiceSpec(job)
	if err != nil {
		t.Fatal(err)
	}
	if j := got.Mode.ReplicatedJob; *j.TotalCompletions != 3 {
		t.Errorf("job TotalCompletions got %d, want MaxConcurrent (3)", *j.TotalCompletions)
	}
}

func TestNormalizeNodeSpec(t *testing.T) {
	got, err := normalizeNodeSpec(swarm.NodeSpec{Role: "Manager", Availability: "DRAIN"})
	if err != nil || got.Role != swarm.NodeRoleManager || got.Availability != swarm.NodeAvailabilityDrain {
		t.Fatalf("got %+v, %v; want manager/drain", got, err)
	}
	for _, bad := range []swarm.NodeSpec{{Role: "boss", Availability: "active"}, {Role: "worker", Availability: "asleep"}, {}} {
		if _, err := normalizeNodeSpec(bad); !errdefs.Is(err, errdefs.KindInvalid) {
			t.Errorf("spec %+v: got %v, want an invalid-argument error", bad, err)
		}
	}
}

// TestServiceReferencesChecked: create and update refuse a service whose
// secret or config does not exist, and store nothing.
func TestServiceReferencesChecked(t *testing.T) {
	a, s := newAPI(t)
	pw := mustCreateSecret(t, a, "pw", "s3cret")
	before := snapshot(t, s)
	spec := validSpec("web")
	spec.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef("nope", "ghost", "g")}
	_, err := a.CreateService(t.Context(), spec)
	wantErr(t, err, errdefs.KindInvalid, "secret not found: ghost")
	if snapshot(t, s) != before {
		t.Fatal("a refused service create changed the store")
	}

	spec.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef(pw, "pw", "pw")}
	id, err := a.CreateService(t.Context(), spec)
	if err != nil {
		t.Fatalf("create with an existing secret: %v", err)
	}
	svc, err := a.GetService(t.Context(), id, false)
	if err != nil {
		t.Fatal(err)
	}
	update := validSpec("web")
	update.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef(pw, "pw", "pw")}
	update.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{configRef("nope", "ghost", "/g")}
	wantErr(t, a.UpdateService(t.Context(), id, svc.Version.Index, update, ""), errdefs.KindInvalid, "config not found: ghost")
}
