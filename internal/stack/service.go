package stack

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// service converts one service of the file into its swarm spec.
func (p *Project) service(svc types.ServiceConfig) (Service, error) {
	deploy := types.DeployConfig{}
	if svc.Deploy != nil {
		deploy = *svc.Deploy
	}
	at := func(err error, path ...string) error {
		return p.errAt(err, append([]string{"services", svc.Name}, path...)...)
	}
	var errs []error
	mode, err := deployMode(deploy.Mode, deploy.Replicas)
	if err != nil {
		errs = append(errs, at(err, "deploy", "mode"))
	}
	ports, err := endpointPorts(svc.Ports)
	if err != nil {
		errs = append(errs, at(err, "ports"))
	}
	mounts, err := p.mounts(svc)
	if err != nil {
		errs = append(errs, at(err, "volumes"))
	}
	resources, err := resources(deploy.Resources)
	if err != nil {
		errs = append(errs, at(err, "deploy", "resources"))
	}
	restart, err := restartPolicy(svc.Restart, deploy.RestartPolicy)
	if err != nil {
		errs = append(errs, at(err, "restart"))
	}
	health, err := healthcheck(svc.HealthCheck)
	if err != nil {
		errs = append(errs, at(err, "healthcheck"))
	}
	if len(errs) > 0 {
		return Service{}, errors.Join(errs...)
	}
	var logDriver *swarm.Driver
	if svc.Logging != nil {
		logDriver = &swarm.Driver{Name: svc.Logging.Driver, Options: svc.Logging.Options}
	}
	capAdd, capDrop := effectiveCaps(svc.CapAdd, svc.CapDrop)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{
			Name:   Scope(p.Namespace, svc.Name),
			Labels: p.stackLabels(deploy.Labels),
		},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:           svc.Image,
				Command:         svc.Entrypoint,
				Args:            svc.Command,
				Hostname:        svc.Hostname,
				Hosts:           extraHosts(svc.ExtraHosts),
				DNSConfig:       dnsConfig(svc.DNS, svc.DNSSearch),
				Healthcheck:     health,
				Env:             environment(svc.Environment),
				Labels:          p.stackLabels(svc.Labels),
				Dir:             svc.WorkingDir,
				User:            svc.User,
				Mounts:          mounts,
				StopGracePeriod: (*time.Duration)(svc.StopGracePeriod),
				StopSignal:      svc.StopSignal,
				TTY:             svc.Tty,
				OpenStdin:       svc.StdinOpen,
				Secrets:         p.secretRefs(svc.Secrets),
				Configs:         p.configRefs(svc.Configs),
				ReadOnly:        svc.ReadOnly,
				Privileges:      &swarm.Privileges{},
				Isolation:       container.Isolation(svc.Isolation),
				Init:            svc.Init,
				Sysctls:         svc.Sysctls,
				CapabilityAdd:   capAdd,
				CapabilityDrop:  capDrop,
				Ulimits:         ulimits(svc.Ulimits),
				OomScoreAdj:     svc.OomScoreAdj,
			},
			LogDriver:     logDriver,
			Resources:     resources,
			RestartPolicy: restart,
			Placement: &swarm.Placement{
				Constraints: deploy.Placement.Constraints,
				Preferences: preferences(deploy.Placement.Preferences),
				MaxReplicas: deploy.Placement.MaxReplicas,
			},
			Networks: p.attachments(svc),
		},
		EndpointSpec: &swarm.EndpointSpec{
			Mode:  swarm.ResolutionMode(strings.ToLower(deploy.EndpointMode)),
			Ports: ports,
		},
		Mode:           mode,
		UpdateConfig:   updateConfig(deploy.UpdateConfig),
		RollbackConfig: updateConfig(deploy.RollbackConfig),
	}
	spec.Labels[LabelImage] = svc.Image
	return Service{Name: svc.Name, Spec: spec, DependsOn: dependencies(svc.DependsOn)}, nil
}

func deployMode(mode string, replicas *int) (swarm.ServiceMode, error) {
	var n *uint64
	if replicas != nil {
		if *replicas < 0 {
			return swarm.ServiceMode{}, fmt.Errorf("replicas must not be negative, got %d", *replicas)
		}
		v := uint64(*replicas)
		n = &v
	}
	switch mode {
	case "global", "global-job":
		if n != nil {
			return swarm.ServiceMode{}, errors.New("replicas can only be used with replicated or replicated-job mode")
		}
		if mode == "global" {
			return swarm.ServiceMode{Global: &swarm.GlobalService{}}, nil
		}
		return swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}, nil
	case "replicated-job":
		return swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: n, TotalCompletions: n}}, nil
	case "replicated", "":
		return swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: n}}, nil
	}
	return swarm.ServiceMode{}, fmt.Errorf("unknown mode: %s", mode)
}

// endpointPorts converts published ports, sorted as swarm sorts them. The
// loader has already turned short syntax into long and checked the numbers.
func endpointPorts(ports []types.ServicePortConfig) ([]swarm.PortConfig, error) {
	out := make([]swarm.PortConfig, 0, len(ports))
	for i, port := range ports {
		var published uint64
		if port.Published != "" {
			var err error
			if published, err = strconv.ParseUint(port.Published, 10, 16); err != nil {
				return nil, errField(fmt.Errorf("invalid published port %q: a swarm publishes one port (1-65535) per entry", port.Published), strconv.Itoa(i), "published")
			}
		}
		out = append(out, swarm.PortConfig{
			Protocol:      network.IPProtocol(port.Protocol),
			TargetPort:    port.Target,
			PublishedPort: uint32(published),
			PublishMode:   swarm.PortConfigPublishMode(port.Mode),
		})
	}
	slices.SortFunc(out, swarm.PortConfig.Compare)
	return out, nil
}

// environment is KEY=value, or KEY alone for a variable with no value,
// sorted so that the order of the file changes nothing.
func environment(env types.MappingWithEquals) []string {
	var out []string
	for k, v := range env {
		if v == nil {
			out = append(out, k)
			continue
		}
		out = append(out, k+"="+*v)
	}
	slices.Sort(out)
	return out
}

// extraHosts is "IP hostname" per mapping, as swarm writes /etc/hosts. The
// loader keeps them in a map, so they are sorted by host name.
func extraHosts(hosts types.HostsList) []string {
	var out []string
	for _, host := range slices.Sorted(maps.Keys(hosts)) {
		for _, ip := range hosts[host] {
			out = append(out, ip+" "+host)
		}
	}
	return out
}

func dnsConfig(servers, search []string) *swarm.DNSConfig {
	if len(servers) == 0 && len(search) == 0 {
		return nil
	}
	cfg := &swarm.DNSConfig{Search: search}
	for _, s := range servers {
		if addr, err := netip.ParseAddr(s); err == nil {
			cfg.Nameservers = append(cfg.Nameservers, addr)
		}
	}
	return cfg
}

func healthcheck(h *types.HealthCheckConfig) (*container.HealthConfig, error) {
	if h == nil {
		return nil, nil
	}
	if h.Disable {
		if len(h.Test) != 0 {
			return nil, errors.New("test and disable can't be set at the same time")
		}
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	out := &container.HealthConfig{Test: h.Test}
	for _, d := range []struct {
		from *types.Duration
		to   *time.Duration
	}{{h.Timeout, &out.Timeout}, {h.Interval, &out.Interval}, {h.StartPeriod, &out.StartPeriod}, {h.StartInterval, &out.StartInterval}} {
		if d.from != nil {
			*d.to = time.Duration(*d.from)
		}
	}
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out, nil
}

// restartPolicy prefers deploy.restart_policy and falls back to the
// service's restart key, as the docker CLI does.
func restartPolicy(restart string, rp *types.RestartPolicy) (*swarm.RestartPolicy, error) {
	if rp != nil {
		return &swarm.RestartPolicy{
			Condition:   swarm.RestartPolicyCondition(rp.Condition),
			Delay:       (*time.Duration)(rp.Delay),
			MaxAttempts: rp.MaxAttempts,
			Window:      (*time.Duration)(rp.Window),
		}, nil
	}
	if restart == "" {
		return nil, nil
	}
	name, count, hasCount := strings.Cut(restart, ":")
	var attempts *uint64
	if hasCount {
		n, err := strconv.ParseUint(count, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid restart policy %q: the maximum retry count must be a non-negative number", restart)
		}
		if n > 0 {
			attempts = &n
		}
	}
	switch name {
	case "no", "":
		return nil, nil
	case "always", "unless-stopped":
		return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, MaxAttempts: attempts}, nil
	case "on-failure":
		return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: attempts}, nil
	}
	return nil, fmt.Errorf("invalid restart policy: unknown policy '%s' (must be one of 'no', 'always', 'on-failure', or 'unless-stopped')", name)
}

func updateConfig(u *types.UpdateConfig) *swarm.UpdateConfig {
	if u == nil {
		return nil
	}
	parallelism := uint64(1)
	if u.Parallelism != nil {
		parallelism = *u.Parallelism
	}
	return &swarm.UpdateConfig{
		Parallelism:     parallelism,
		Delay:           time.Duration(u.Delay),
		FailureAction:   swarm.FailureAction(u.FailureAction),
		Monitor:         time.Duration(u.Monitor),
		MaxFailureRatio: u.MaxFailureRatio,
		Order:           swarm.UpdateOrder(u.Order),
	}
}

func resources(r types.Resources) (*swarm.ResourceRequirements, error) {
	out := &swarm.ResourceRequirements{}
	if l := r.Limits; l != nil {
		cpus, err := nanoCPUs(l.NanoCPUs)
		if err != nil {
			return nil, errField(err, "limits", "cpus")
		}
		out.Limits = &swarm.Limit{NanoCPUs: cpus, MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
	}
	if rv := r.Reservations; rv != nil {
		cpus, err := nanoCPUs(rv.NanoCPUs)
		if err != nil {
			return nil, errField(err, "reservations", "cpus")
		}
		var generic []swarm.GenericResource
		for _, g := range rv.GenericResources {
			var res swarm.GenericResource
			if d := g.DiscreteResourceSpec; d != nil {
				res.DiscreteResourceSpec = &swarm.DiscreteGenericResource{Kind: d.Kind, Value: d.Value}
			}
			generic = append(generic, res)
		}
		out.Reservations = &swarm.Resources{NanoCPUs: cpus, MemoryBytes: int64(rv.MemoryBytes), GenericResources: generic}
	}
	return out, nil
}

// nanoCPUs converts a CPU amount to billionths of a CPU exactly as the file
// wrote it: the loader holds it as a float32, whose shortest decimal form
// is what was written ("0.1", not 0.100000001).
func nanoCPUs(n types.NanoCPUs) (int64, error) {
	if n == 0 {
		return 0, nil
	}
	s := strconv.FormatFloat(float64(n), 'f', -1, 32)
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 {
		return 0, fmt.Errorf("invalid CPU amount %s", s)
	}
	nano := r.Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return 0, fmt.Errorf("invalid CPU amount %s: at most 9 decimal places", s)
	}
	return nano.Num().Int64(), nil
}

func preferences(prefs []types.PlacementPreferences) []swarm.PlacementPreference {
	var out []swarm.PlacementPreference
	for _, p := range prefs {
		out = append(out, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: p.Spread}})
	}
	return out
}

// effectiveCaps normalises capabilities as docker does (upper case, CAP_
// prefix, ALL alone) and drops a capability both added and dropped from
// the drop list.
func effectiveCaps(add, drop []string) (capAdd, capDrop []string) {
	normalise := func(caps []string) map[string]bool {
		out := map[string]bool{}
		for _, c := range caps {
			c = strings.ToUpper(strings.TrimSpace(c))
			if c != "ALL" && c != "RESET" && !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			out[c] = true
		}
		if out["ALL"] {
			return map[string]bool{"ALL": true}
		}
		return out
	}
	adds, drops := normalise(add), normalise(drop)
	for c := range drops {
		if !adds[c] && c != "RESET" {
			capDrop = append(capDrop, c)
		}
	}
	for c := range adds {
		if c != "RESET" {
			capAdd = append(capAdd, c)
		}
	}
	slices.Sort(capAdd)
	slices.Sort(capDrop)
	return capAdd, capDrop
}

func ulimits(u map[string]*types.UlimitsConfig) []*container.Ulimit {
	out := make([]*container.Ulimit, 0, len(u))
	for _, name := range slices.Sorted(maps.Keys(u)) {
		soft, hard := int64(u[name].Soft), int64(u[name].Hard)
		if u[name].Single != 0 {
			soft, hard = int64(u[name].Single), int64(u[name].Single)
		}
		out = append(out, &container.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	return out
}

// attachments are the service's networks, each with the service's short
// name as an alias on user-defined networks, sorted by target.
func (p *Project) attachments(svc types.ServiceConfig) []swarm.NetworkAttachmentConfig {
	out := make([]swarm.NetworkAttachmentConfig, 0, len(svc.Networks))
	for key, nw := range svc.Networks {
		target := p.objectName(key, p.Networks[key].Name)
		att := swarm.NetworkAttachmentConfig{Target: target}
		if nw != nil {
			att.Aliases = slices.Clone(nw.Aliases)
			att.DriverOpts = nw.DriverOpts
		}
		if userDefined(target) {
			att.Aliases = append(att.Aliases, svc.Name)
		}
		out = append(out, att)
	}
	slices.SortFunc(out, func(a, b swarm.NetworkAttachmentConfig) int { return strings.Compare(a.Target, b.Target) })
	return out
}

// userDefined says whether a network takes aliases: not one of the
// engine's own (default, bridge, host, none, container:ID).
func userDefined(name string) bool {
	switch name {
	case "default", "bridge", "host", "none":
		return false
	}
	return !strings.HasPrefix(name, "container:")
}

func (p *Project) secretRefs(refs []types.ServiceSecretConfig) []*swarm.SecretReference {
	out := make([]*swarm.SecretReference, 0, len(refs))
	for _, r := range refs {
		name, file := p.fileRef(types.FileReferenceConfig(r), p.Secrets[r.Source].Name)
		// The loader defaults a secret's target to its path in the
		// container; swarm takes the file's name under /run/secrets.
		if file.Name == "/run/secrets/"+r.Source {
			file.Name = r.Source
		}
		target := swarm.SecretReferenceFileTarget(file)
		out = append(out, &swarm.SecretReference{SecretName: name, File: &target})
	}
	slices.SortStableFunc(out, func(a, b *swarm.SecretReference) int { return strings.Compare(a.SecretName, b.SecretName) })
	return out
}

func (p *Project) configRefs(refs []types.ServiceConfigObjConfig) []*swarm.ConfigReference {
	out := make([]*swarm.ConfigReference, 0, len(refs))
	for _, r := range refs {
		name, file := p.fileRef(types.FileReferenceConfig(r), p.Configs[r.Source].Name)
		target := swarm.ConfigReferenceFileTarget(file)
		out = append(out, &swarm.ConfigReference{ConfigName: name, File: &target})
	}
	slices.SortStableFunc(out, func(a, b *swarm.ConfigReference) int { return strings.Compare(a.ConfigName, b.ConfigName) })
	return out
}

// fileRef is the object a secret or config reference names and the file
// it becomes: named as the source unless a target is given, owned by root,
// mode 0444 unless set.
func (p *Project) fileRef(r types.FileReferenceConfig, loadedName string) (string, swarm.SecretReferenceFileTarget) {
	file := swarm.SecretReferenceFileTarget{Name: r.Target, UID: r.UID, GID: r.GID, Mode: 0o444}
	if file.Name == "" {
		file.Name = r.Source
	}
	if file.UID == "" {
		file.UID = "0"
	}
	if file.GID == "" {
		file.GID = "0"
	}
	if r.Mode != nil {
		file.Mode = os.FileMode(*r.Mode)
	}
	return p.objectName(r.Source, loadedName), file
}
