package controlapi

import (
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/manager/scheduler"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/template"
	"github.com/shoal-project/shoal/internal/volume"
)

// The checks below are SwarmKit's (controlapi) and dockerd's (the
// conversion of API specs to SwarmKit's) with their messages; where those
// let a bad value through silently (an unknown protocol became tcp), the
// value is refused here with a message that names the field.

var dnsNameComponent = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`)

func validateName(name string) error {
	switch {
	case name == "":
		return invalidArgument("meta: name must be provided")
	case !dnsNameComponent.MatchString(name):
		return invalidArgument("name must be valid as a DNS name component")
	case len(name) > 63:
		return invalidArgument("name must be 63 characters or fewer")
	}
	return nil
}

// normalizeServiceSpec checks a service spec and returns it as it will be
// stored: a copy with the values dockerd fills in on the way to SwarmKit
// (mode replicated/1, restart condition any, ports tcp/ingress, …). The
// name must already be set.
func normalizeServiceSpec(in swarm.ServiceSpec) (swarm.ServiceSpec, error) {
	spec := clone(in)
	if err := validateName(spec.Name); err != nil {
		return spec, err
	}
	if err := normalizeMode(&spec.Mode); err != nil {
		return spec, err
	}
	if isJob(spec.Mode) && spec.UpdateConfig != nil {
		return spec, invalidArgument("Jobs may not have an update config")
	}
	if err := normalizeTaskSpec(&spec.TaskTemplate); err != nil {
		return spec, err
	}
	// Templates are expanded on the node for each task; expanding them for
	// a sample task shows whether they parse and run, and gives the values
	// a task's mounts are checked with.
	expanded, err := template.CheckService(&spec)
	if err != nil {
		return spec, invalidArgument("%v", err)
	}
	if err := validateMounts(expanded.Mounts); err != nil {
		return spec, err
	}
	if err := normalizeUpdateConfig(spec.UpdateConfig, "UpdateConfig"); err != nil {
		return spec, err
	}
	if err := normalizeUpdateConfig(spec.RollbackConfig, "RollbackConfig"); err != nil {
		return spec, err
	}
	if err := normalizeEndpointSpec(spec.EndpointSpec); err != nil {
		return spec, err
	}
	return spec, nil
}

// modeName is the name the "mode" filter and messages use.
func modeName(m swarm.ServiceMode) string {
	switch {
	case m.Global != nil:
		return "global"
	case m.ReplicatedJob != nil:
		return "replicated-job"
	case m.GlobalJob != nil:
		return "global-job"
	default:
		return "replicated"
	}
}

func normalizeMode(m *swarm.ServiceMode) error {
	var set []string
	if m.Replicated != nil {
		set = append(set, "Mode.Replicated")
	}
	if m.Global != nil {
		set = append(set, "Mode.Global")
	}
	if m.ReplicatedJob != nil {
		set = append(set, "Mode.ReplicatedJob")
	}
	if m.GlobalJob != nil {
		set = append(set, "Mode.GlobalJob")
	}
	if len(set) > 1 {
		return errdefs.Invalid("must specify only one service mode, but %s are set", strings.Join(set, ", "))
	}
	one := uint64(1)
	switch {
	case len(set) == 0:
		m.Replicated = &swarm.ReplicatedService{Replicas: &one}
	case m.Replicated != nil && m.Replicated.Replicas == nil:
		m.Replicated.Replicas = &one
	case m.ReplicatedJob != nil:
		j := m.ReplicatedJob
		if j.MaxConcurrent == nil {
			j.MaxConcurrent = &one
		}
		if j.TotalCompletions == nil {
			total := *j.MaxConcurrent
			j.TotalCompletions = &total
		}
	}
	return checkCounts(*m)
}

// checkCounts refuses counts SwarmKit reads as negative int64s, with its
// messages; smaller ones past the cluster's limits are refused later,
// against the limits in the store (checkLimits).
func checkCounts(m swarm.ServiceMode) error {
	negative := func(n *uint64) bool { return n != nil && int64(*n) < 0 }
	switch {
	case m.Replicated != nil && negative(m.Replicated.Replicas):
		return invalidArgument("Number of replicas must be non-negative (Mode.Replicated.Replicas: %d is past the most any swarm allows, %d)", *m.Replicated.Replicas, limits.CeilingMaxReplicas)
	case m.ReplicatedJob != nil && negative(m.ReplicatedJob.MaxConcurrent):
		return invalidArgument("Maximum concurrent jobs must not be negative (Mode.ReplicatedJob.MaxConcurrent: %d is past the most any swarm allows, %d)", *m.ReplicatedJob.MaxConcurrent, limits.CeilingMaxReplicas)
	case m.ReplicatedJob != nil && negative(m.ReplicatedJob.TotalCompletions):
		return invalidArgument("Total completed jobs must not be negative (Mode.ReplicatedJob.TotalCompletions: %d is past the most any swarm allows, %d)", *m.ReplicatedJob.TotalCompletions, limits.CeilingMaxReplicas)
	}
	return nil
}

func normalizeTaskSpec(ts *swarm.TaskSpec) error {
	switch ts.Runtime {
	case "", swarm.RuntimeContainer:
		if ts.ContainerSpec == nil {
			return errdefs.Invalid("mismatched Runtime and *Spec fields: TaskTemplate.ContainerSpec is missing")
		}
		ts.Runtime = swarm.RuntimeContainer
	default:
		return errdefs.Invalid("unsupported runtime type: %q", ts.Runtime)
	}
	if ts.PluginSpec != nil || ts.NetworkAttachmentSpec != nil {
		return errdefs.Invalid("mismatched Runtime and *Spec fields: TaskTemplate.PluginSpec and NetworkAttachmentSpec need another runtime")
	}
	if err := validateResources(ts.Resources); err != nil {
		return err
	}
	if err := normalizeRestartPolicy(ts.RestartPolicy); err != nil {
		return err
	}
	if ts.Placement != nil {
		if _, err := scheduler.ParseConstraints(ts.Placement.Constraints); err != nil {
			return err
		}
		for _, p := range ts.Placement.Preferences {
			if p.Spread == nil || p.Spread.SpreadDescriptor == "" {
				return errdefs.Invalid("TaskTemplate.Placement.Preferences: a preference needs Spread.SpreadDescriptor")
			}
		}
	}
	return normalizeContainerSpec(ts.ContainerSpec)
}

// validatePrivileges checks what a task's container may do: capabilities
// the runtime knows, a seccomp mode and profile it can apply, and no
// confinement this node cannot give (Windows credential specs, SELinux
// labels, AppArmor profiles) asked for rather than silently not applied.
func validatePrivileges(c *swarm.ContainerSpec) error {
	if err := confine.CheckCapabilities("ContainerSpec", c.CapabilityAdd, c.CapabilityDrop); err != nil {
		return err
	}
	p := c.Privileges
	if p == nil {
		return nil
	}
	if cs := p.CredentialSpec; cs != nil && (cs.Config != "" || cs.File != "" || cs.Registry != "") {
		return errdefs.Invalid("ContainerSpec.Privileges.CredentialSpec: credential specs are for Windows containers; this node runs Linux ones")
	}
	if l := p.SELinuxContext; l != nil && !l.Disable && (l.User != "" || l.Role != "" || l.Type != "" || l.Level != "") {
		return errdefs.Invalid("ContainerSpec.Privileges.SELinuxContext: this node applies no SELinux label; leave it unset or disable it")
	}
	if a := p.AppArmor; a != nil && a.Mode != "" && a.Mode != swarm.AppArmorModeDisabled && a.Mode != swarm.AppArmorModeDefault {
		return errdefs.Invalid("ContainerSpec.Privileges.AppArmor.Mode %q: want default or disabled", a.Mode)
	}
	if sc := p.Seccomp; sc != nil {
		return confine.CheckSeccomp(confine.SeccompMode(sc.Mode), sc.Profile)
	}
	return nil
}

func normalizeContainerSpec(c *swarm.ContainerSpec) error {
	if c.Image == "" {
		return invalidArgument("ContainerSpec: image reference must be provided")
	}
	if _, err := reference.ParseNormalizedNamed(c.Image); err != nil {
		return invalidArgument("ContainerSpec: %q is not a valid repository/tag", c.Image)
	}
	if err := validateHealthcheck(c.Healthcheck); err != nil {
		return err
	}
	if c.StopGracePeriod != nil {
		if *c.StopGracePeriod < 0 {
			return invalidArgument("ContainerSpec: StopGracePeriod cannot be negative")
		}
		if err := limits.Duration("ContainerSpec.StopGracePeriod", *c.StopGracePeriod); err != nil {
			return err
		}
	}
	if err := validateReferences(c); err != nil {
		return err
	}
	if err := validatePrivileges(c); err != nil {
		return err
	}
	switch c.Isolation {
	case "", container.IsolationDefault:
		c.Isolation = container.IsolationDefault
	default:
		return errdefs.Invalid("ContainerSpec: isolation %q is not supported on linux", c.Isolation)
	}
	return nil
}

func validateMounts(ms []mount.Mount) error {
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.Target] {
			return invalidArgument("ContainerSpec: duplicate mount point: %s", m.Target)
		}
		seen[m.Target] = true
		if m.Target == "" {
			return errdefs.Invalid("invalid mount config for type %q: field Target must not be empty", m.Type)
		}
		if !path.IsAbs(m.Target) {
			return errdefs.Invalid("invalid mount config for type %q: invalid mount path: '%s' mount path must be absolute", m.Type, m.Target)
		}
		switch m.Type {
		case mount.TypeBind:
			if m.Source == "" {
				return errdefs.Invalid("invalid mount config for type %q: field Source must not be empty", m.Type)
			}
			if !path.IsAbs(m.Source) {
				return errdefs.Invalid("invalid mount config for type %q: invalid mount path: '%s' mount path must be absolute", m.Type, m.Source)
			}
			if m.VolumeOptions != nil || m.TmpfsOptions != nil {
				return errdefs.Invalid("invalid mount config for type %q: only BindOptions may be set", m.Type)
			}
		case mount.TypeVolume:
			if m.BindOptions != nil || m.TmpfsOptions != nil {
				return errdefs.Invalid("invalid mount config for type %q: only VolumeOptions may be set", m.Type)
			}
			if err := validateVolumeMount(m); err != nil {
				return err
			}
		case mount.TypeTmpfs:
			if m.Source != "" {
				return errdefs.Invalid("invalid mount config for type %q: field Source must not be specified", m.Type)
			}
			if m.BindOptions != nil || m.VolumeOptions != nil {
				return errdefs.Invalid("invalid mount config for type %q: only TmpfsOptions may be set", m.Type)
			}
			if m.TmpfsOptions != nil && m.TmpfsOptions.SizeBytes < 0 {
				return errdefs.Invalid("invalid mount config for type %q: TmpfsOptions.SizeBytes cannot be negative", m.Type)
			}
		default:
			return errdefs.Invalid("invalid mount config for type %q: mount type unknown (want bind, volume or tmpfs)", m.Type)
		}
	}
	return nil
}

// validateVolumeMount checks what a volume mount asks of the node's local
// volume driver, the only one there is: a valid name, the local driver,
// options it knows. Each node would refuse the task otherwise.
func validateVolumeMount(m mount.Mount) error {
	if m.Source != "" {
		if err := volume.ValidateName(m.Source); err != nil {
			return errdefs.Invalid("invalid mount config for type %q: Source: %v", m.Type, err)
		}
	}
	o := m.VolumeOptions
	if o == nil || o.DriverConfig == nil {
		return nil
	}
	if err := volume.ValidateDriver(o.DriverConfig.Name); err != nil {
		return errdefs.Invalid("invalid mount config for type %q: VolumeOptions.DriverConfig.Name: %v", m.Type, err)
	}
	if err := volume.ValidateOptions(o.DriverConfig.Options); err != nil {
		return errdefs.Invalid("invalid mount config for type %q: VolumeOptions.DriverConfig.Options: %v", m.Type, err)
	}
	return nil
}

const minHealthDuration = time.Millisecond

func validateHealthcheck(hc *container.HealthConfig) error {
	if hc == nil {
		return nil
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", hc.Interval}, {"Timeout", hc.Timeout}, {"StartPeriod", hc.StartPeriod}, {"StartInterval", hc.StartInterval}} {
		if d.v != 0 && d.v < minHealthDuration {
			return invalidArgument("ContainerSpec: %s in HealthConfig cannot be less than %s", d.name, minHealthDuration)
		}
		if err := limits.Duration("ContainerSpec.Healthcheck."+d.name, d.v); err != nil {
			return err
		}
	}
	if hc.Retries < 0 {
		return invalidArgument("ContainerSpec: Retries in HealthConfig cannot be negative")
	}
	return nil
}

func validateResources(r *swarm.ResourceRequirements) error {
	if r == nil {
		return nil
	}
	check := func(field string, cpus, mem int64) error {
		if cpus != 0 && cpus < 1e6 {
			return invalidArgument("invalid cpu value %g: Must be at least %g (%s.NanoCPUs)", float64(cpus)/1e9, 1e6/1e9, field)
		}
		if mem != 0 && mem < 4*1024*1024 {
			return invalidArgument("invalid memory value %d: Must be at least 4MiB (%s.MemoryBytes)", mem, field)
		}
		return nil
	}
	if l := r.Limits; l != nil {
		if err := check("Resources.Limits", l.NanoCPUs, l.MemoryBytes); err != nil {
			return err
		}
		if l.Pids < 0 {
			return invalidArgument("invalid pids limit %d: Resources.Limits.Pids cannot be negative", l.Pids)
		}
	}
	if rv := r.Reservations; rv != nil {
		if err := check("Resources.Reservations", rv.NanoCPUs, rv.MemoryBytes); err != nil {
			return err
		}
	}
	if r.SwapBytes != nil && *r.SwapBytes < -1 {
		return invalidArgument("invalid swap value %d: Resources.SwapBytes must be -1 (unlimited) or more", *r.SwapBytes)
	}
	if s := r.MemorySwappiness; s != nil && (*s < 0 || *s > 100) {
		return invalidArgument("invalid swappiness value %d: Resources.MemorySwappiness must be 0 to 100", *s)
	}
	return nil
}

func normalizeRestartPolicy(rp *swarm.RestartPolicy) error {
	if rp == nil {
		return nil
	}
	switch rp.Condition {
	case "":
		rp.Condition = swarm.RestartPolicyConditionAny
	case swarm.RestartPolicyConditionNone, swarm.RestartPolicyConditionOnFailure, swarm.RestartPolicyConditionAny:
	default:
		return errdefs.Invalid("invalid RestartCondition: %q (RestartPolicy.Condition must be none, on-failure or any)", rp.Condition)
	}
	if rp.Delay != nil {
		if *rp.Delay < 0 {
			return invalidArgument("TaskSpec: restart-delay cannot be negative")
		}
		if err := limits.Duration("RestartPolicy.Delay", *rp.Delay); err != nil {
			return err
		}
	}
	if rp.Window != nil {
		if *rp.Window < 0 {
			return invalidArgument("TaskSpec: restart-window cannot be negative")
		}
		if err := limits.Duration("RestartPolicy.Window", *rp.Window); err != nil {
			return err
		}
	}
	if rp.MaxAttempts == nil {
		zero := uint64(0)
		rp.MaxAttempts = &zero
	}
	return nil
}

func normalizeUpdateConfig(uc *swarm.UpdateConfig, field string) error {
	if uc == nil {
		return nil
	}
	switch uc.FailureAction {
	case "":
		uc.FailureAction = swarm.UpdateFailureActionPause
	case swarm.UpdateFailureActionPause, swarm.UpdateFailureActionContinue, swarm.UpdateFailureActionRollback:
	default:
		return errdefs.Invalid("unrecognized update failure action %s (%s.FailureAction must be pause, continue or rollback)", uc.FailureAction, field)
	}
	switch uc.Order {
	case "":
		uc.Order = swarm.UpdateOrderStopFirst
	case swarm.UpdateOrderStopFirst, swarm.UpdateOrderStartFirst:
	default:
		return errdefs.Invalid("unrecognized update order %s (%s.Order must be stop-first or start-first)", uc.Order, field)
	}
	if uc.Delay < 0 {
		return invalidArgument("TaskSpec: update-delay cannot be negative (%s.Delay)", field)
	}
	if uc.Monitor < 0 {
		return invalidArgument("TaskSpec: update-monitor cannot be negative (%s.Monitor)", field)
	}
	if err := limits.Duration(field+".Delay", uc.Delay); err != nil {
		return err
	}
	if err := limits.Duration(field+".Monitor", uc.Monitor); err != nil {
		return err
	}
	if uc.MaxFailureRatio < 0 || uc.MaxFailureRatio > 1 {
		return invalidArgument("TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1 (%s.MaxFailureRatio)", field)
	}
	return nil
}

const maxPort = 65535

func normalizeEndpointSpec(ep *swarm.EndpointSpec) error {
	if ep == nil {
		return nil
	}
	switch ep.Mode {
	case "":
		ep.Mode = swarm.ResolutionModeVIP
	case swarm.ResolutionModeVIP, swarm.ResolutionModeDNSRR:
	default:
		return errdefs.Invalid("invalid resolution mode: %q (EndpointSpec.Mode must be vip or dnsrr)", ep.Mode)
	}
	type key struct {
		port  uint32
		proto string
	}
	seen := map[key]bool{}
	for i := range ep.Ports {
		p := &ep.Ports[i]
		switch strings.ToLower(string(p.Protocol)) {
		case "", "tcp":
			p.Protocol = "tcp"
		case "udp", "sctp":
			p.Protocol = network.IPProtocol(strings.ToLower(string(p.Protocol)))
		default:
			return errdefs.Invalid("EndpointSpec: invalid protocol %q for port %d (want tcp, udp or sctp)", p.Protocol, p.TargetPort)
		}
		switch strings.ToLower(string(p.PublishMode)) {
		case "", "ingress":
			p.PublishMode = swarm.PortConfigPublishModeIngress
		case "host":
			p.PublishMode = swarm.PortConfigPublishModeHost
		default:
			return errdefs.Invalid("EndpointSpec: invalid publish mode %q for port %d (want ingress or host)", p.PublishMode, p.TargetPort)
		}
		if p.TargetPort > maxPort {
			return errdefs.Invalid("EndpointSpec: target port %d is out of range (1-%d)", p.TargetPort, maxPort)
		}
		if p.PublishedPort > maxPort {
			return errdefs.Invalid("EndpointSpec: published port %d is out of range (1-%d)", p.PublishedPort, maxPort)
		}
		if ep.Mode == swarm.ResolutionModeDNSRR && p.PublishMode == swarm.PortConfigPublishModeIngress {
			return invalidArgument("EndpointSpec: port published with ingress mode can't be used with dnsrr mode")
		}
		if p.PublishedPort == 0 {
			continue
		}
		k := key{p.PublishedPort, string(p.Protocol)}
		if seen[k] {
			return invalidArgument("EndpointSpec: duplicate published ports provided")
		}
		seen[k] = true
	}
	return nil
}

// checkModeChange refuses turning a service of one mode into another,
// which SwarmKit does not support: the orchestrators do not convert.
func checkModeChange(old, new swarm.ServiceMode) error {
	if modeName(old) != modeName(new) {
		return rpcError(errdefs.KindNotImplemented, "Unimplemented", "service mode change is not allowed")
	}
	return nil
}

// secretNameComponent is SwarmKit's rule for secret and config names,
// looser than services' (dots allowed).
var secretNameComponent = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)

func validateObjectName(name string) error {
	switch {
	case name == "":
		return invalidArgument("name must be provided")
	case len(name) > 64 || !secretNameComponent.MatchString(name):
		return invalidArgument("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]")
	}
	return nil
}

// validateData checks the data of a secret or config with SwarmKit's rule
// and message: less than 500 KiB for secrets, 1000 KiB for configs.
func validateData(kind string, data []byte, max int) error {
	if err := limits.Data(kind, data, max); err != nil {
		return invalidArgument("%v", err)
	}
	return nil
}

func validateSecretSpec(spec swarm.SecretSpec) error {
	if err := validateObjectName(spec.Name); err != nil {
		return err
	}
	// Drivers are plugins, which do not exist here, and ignoring one would
	// store a secret that is not what the user asked for.
	if spec.Driver != nil {
		return errdefs.Invalid("Driver: secret drivers are not supported (got %q); give the secret's Data instead", spec.Driver.Name)
	}
	if err := validateTemplating("secret", spec.Name, spec.Templating, spec.Data); err != nil {
		return err
	}
	if err := validateData("secret", spec.Data, limits.MaxSecretData); err != nil {
		return err
	}
	return limits.Secret(spec)
}

func validateConfigSpec(spec swarm.ConfigSpec) error {
	if err := validateObjectName(spec.Name); err != nil {
		return err
	}
	if err := validateTemplating("config", spec.Name, spec.Templating, spec.Data); err != nil {
		return err
	}
	if err := validateData("config", spec.Data, limits.MaxConfigData); err != nil {
		return err
	}
	return limits.Config(spec)
}

// validateTemplating checks the templating of a secret or config: the
// golang driver only, and data that parses as its template. It runs on
// the node, for each task.
func validateTemplating(kind, name string, t *swarm.Driver, data []byte) error {
	templated, err := template.Templated(t)
	if err != nil {
		return errdefs.Invalid("Templating: %v", err)
	}
	if !templated {
		return nil
	}
	if err := template.CheckPayload(kind+" "+name, data); err != nil {
		return errdefs.Invalid("Templating: the %s's data is not a valid template: %v", kind, err)
	}
	return nil
}

// sameTemplating reports whether an update's templating (nil: not given)
// leaves the object's as it is: an update may change labels only, but
// may carry the spec it read back whole.
func sameTemplating(update, cur *swarm.Driver) bool {
	return update == nil || cur != nil && update.Name == cur.Name && maps.Equal(update.Options, cur.Options)
}

// Where the executor mounts secrets and configs whose target is relative.
const (
	secretsDir = "/run/secrets"
	configsDir = "/"
)

// validateReferences checks the form of a container's secret and config
// references, as SwarmKit does, and that no two of them land on the same
// file; whether they name existing objects is checkReferences' job.
func validateReferences(c *swarm.ContainerSpec) error {
	files := map[string]string{} // mount path → "secret NAME" / "config NAME"
	claim := func(what, target, dir string) error {
		p := target
		if !path.IsAbs(p) {
			p = path.Join(dir, p)
		}
		p = path.Clean(p)
		if prev, ok := files[p]; ok {
			return invalidArgument("%s and %s have a conflicting target: '%s'", prev, what, target)
		}
		files[p] = what
		return nil
	}
	targets := map[string]string{}
	for _, r := range c.Secrets {
		if r == nil || r.SecretID == "" || r.SecretName == "" {
			return invalidArgument("malformed secret reference (SecretID and SecretName must be set)")
		}
		if r.File == nil {
			return invalidArgument("malformed secret reference, no target provided (secret %s: File)", r.SecretName)
		}
		if err := validateFileTarget("secret", r.SecretName, r.File.Name, r.File.UID, r.File.GID); err != nil {
			return err
		}
		if prev, ok := targets[r.File.Name]; ok {
			return invalidArgument("secret references '%s' and '%s' have a conflicting target: '%s'", prev, r.SecretName, r.File.Name)
		}
		targets[r.File.Name] = r.SecretName
		if err := claim("secret "+r.SecretName, r.File.Name, secretsDir); err != nil {
			return err
		}
	}
	targets = map[string]string{}
	for _, r := range c.Configs {
		if r == nil || r.ConfigID == "" || r.ConfigName == "" {
			return invalidArgument("malformed config reference (ConfigID and ConfigName must be set)")
		}
		if r.Runtime != nil {
			return errdefs.Invalid("config %s: Runtime targets (credential specs) are not supported on linux", r.ConfigName)
		}
		if r.File == nil {
			return invalidArgument("malformed config reference, no target provided (config %s: File)", r.ConfigName)
		}
		if err := validateFileTarget("config", r.ConfigName, r.File.Name, r.File.UID, r.File.GID); err != nil {
			return err
		}
		if prev, ok := targets[r.File.Name]; ok {
			return invalidArgument("config references '%s' and '%s' have a conflicting target: '%s'", prev, r.ConfigName, r.File.Name)
		}
		targets[r.File.Name] = r.ConfigName
		if err := claim("config "+r.ConfigName, r.File.Name, configsDir); err != nil {
			return err
		}
	}
	return nil
}

// validateFileTarget checks a reference's file: a name (relative to the
// kind's directory, or absolute) that does not climb out with "..", and
// numeric owner IDs, which the executor needs (empty means 0).
func validateFileTarget(kind, name, target, uid, gid string) error {
	if target == "" {
		return invalidArgument("malformed file %s reference, invalid target file name provided (%s %s: File.Name)", kind, kind, name)
	}
	if slices.Contains(strings.Split(target, "/"), "..") {
		return invalidArgument("malformed file %s reference, invalid target file name provided (%s %s: File.Name %q must not contain '..')", kind, kind, name, target)
	}
	for _, id := range []struct{ field, v string }{{"UID", uid}, {"GID", gid}} {
		if id.v == "" {
			continue
		}
		if _, err := strconv.ParseUint(id.v, 10, 32); err != nil {
			return invalidArgument("%s %s: File.%s %q must be a numeric ID", kind, name, id.field, id.v)
		}
	}
	return nil
}

// checkReferences refuses a service spec whose secret or config
// references do not name existing objects, by ID and with matching
// names, as SwarmKit does inside the transaction that writes the service.
// The docker CLI resolves names to IDs before it sends the spec. spec has
// passed normalizeServiceSpec (no nil references).
func checkReferences(tx store.ReadTx, spec swarm.ServiceSpec) error {
	c := spec.TaskTemplate.ContainerSpec
	if c == nil {
		return nil
	}
	var missing []string
	for _, r := range c.Secrets {
		if s := store.Get[*store.Secret](tx, r.SecretID); s == nil || s.Spec.Name != r.SecretName {
			missing = append(missing, r.SecretName)
		}
	}
	if err := notFound("secret", missing); err != nil {
		return err
	}
	missing = nil
	for _, r := range c.Configs {
		if cf := store.Get[*store.Config](tx, r.ConfigID); cf == nil || cf.Spec.Name != r.ConfigName {
			missing = append(missing, r.ConfigName)
		}
	}
	return notFound("config", missing)
}

func notFound(kind string, names []string) error {
	switch len(names) {
	case 0:
		return nil
	case 1:
		return invalidArgument("%s not found: %s", kind, names[0])
	default:
		return invalidArgument("%ss not found: %s", kind, strings.Join(names, ", "))
	}
}
