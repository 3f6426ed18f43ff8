package opts

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
)

// ResolveNetwork maps a network name or ID to the network's ID.
type ResolveNetwork func(nameOrID string) (string, error)

// OnlyRollbackFlags says whether --rollback was combined only with the flags
// that may go with it (--detach, --quiet); visit calls fn for every flag given.
func OnlyRollbackFlags(visit func(fn func(name string))) error {
	var other bool
	visit(func(name string) {
		switch name {
		case FlagRollback, FlagDetach, FlagQuiet:
		default:
			other = true
		}
	})
	if other {
		return errors.New("other flags may not be combined with --rollback")
	}
	return nil
}

// Apply changes spec by the `service update` flags that were given, as docker
// does: lists and maps are edited (add/remove), scalar flags replace values,
// and --force bumps ForceUpdate so the tasks are replaced even if nothing else
// changed.
func (o *Service) Apply(spec *swarm.ServiceSpec, changed func(string) bool, resolve ResolveNetwork) error {
	task := &spec.TaskTemplate
	if task.ContainerSpec == nil {
		task.ContainerSpec = &swarm.ContainerSpec{}
	}
	cs := task.ContainerSpec

	spec.Labels = editMap(spec.Labels, o.labelsRemove.Values, o.labels.Values)
	cs.Labels = editMap(cs.Labels, o.cLabelsRemove.Values, o.cLabels.Values)
	setIf(changed, FlagImage, &cs.Image, o.image)
	if changed(FlagArgs) {
		cs.Args = o.args.Words
	}
	if changed(FlagEntrypoint) {
		cs.Command = o.entrypoint.Words
	}
	if changed(FlagEnvAdd) || changed(FlagEnvRemove) {
		cs.Env = editEnv(cs.Env, o.envRemove.Values, o.env.Values)
	}
	setIf(changed, FlagWorkdir, &cs.Dir, o.workdir)
	setIf(changed, FlagUser, &cs.User, o.user)
	setIf(changed, FlagHostname, &cs.Hostname, o.hostname)
	setIf(changed, FlagStopSignal, &cs.StopSignal, o.stopSignal)
	setIf(changed, FlagTTY, &cs.TTY, o.tty)
	if changed(FlagInit) {
		init := o.init
		cs.Init = &init
	}
	if changed(FlagStopGracePeriod) {
		cs.StopGracePeriod = o.stopGrace.Value
	}
	if changed(FlagMountAdd) || changed(FlagMountRemove) {
		mounts, err := editMounts(cs.Mounts, o.mountsRemove.Values, o.mounts.Mounts)
		if err != nil {
			return err
		}
		cs.Mounts = mounts
	}
	if err := o.applyHealthcheck(cs, changed); err != nil {
		return err
	}

	if anyChanged(changed, FlagLimitCPU, FlagLimitMemory, FlagLimitPids) {
		r := resources(task)
		setIf(changed, FlagLimitCPU, &r.Limits.NanoCPUs, int64(o.limitCPU))
		setIf(changed, FlagLimitMemory, &r.Limits.MemoryBytes, int64(o.limitMem))
		setIf(changed, FlagLimitPids, &r.Limits.Pids, o.limitPids)
	}
	if anyChanged(changed, FlagReserveCPU, FlagReserveMemory) {
		r := resources(task)
		setIf(changed, FlagReserveCPU, &r.Reservations.NanoCPUs, int64(o.reserveCPU))
		setIf(changed, FlagReserveMemory, &r.Reservations.MemoryBytes, int64(o.reserveMem))
	}
	if changed(FlagGenericResourceAdd) || changed(FlagGenericResourceRemove) {
		r := resources(task)
		list, err := editGenericResources(r.Reservations.GenericResources, o.genericRemove.Values, o.generic.Values)
		if err != nil {
			return err
		}
		r.Reservations.GenericResources = list
	}

	task.RestartPolicy = o.restartPolicy(changed, task.RestartPolicy)

	if anyChanged(changed, FlagConstraintAdd, FlagConstraintRemove, FlagPlacementPrefAdd, FlagPlacementPrefRemove, FlagMaxReplicas) {
		if task.Placement == nil {
			task.Placement = &swarm.Placement{}
		}
		if changed(FlagConstraintAdd) || changed(FlagConstraintRemove) {
			task.Placement.Constraints = editConstraints(task.Placement.Constraints, o.constraintsRm.Values, o.constraints.Values)
		}
		if changed(FlagPlacementPrefAdd) || changed(FlagPlacementPrefRemove) {
			task.Placement.Preferences = editPrefs(task.Placement.Preferences, o.prefsRemove.Prefs, o.prefs.Prefs)
		}
		setIf(changed, FlagMaxReplicas, &task.Placement.MaxReplicas, o.maxReplicas)
	}
	if changed(FlagNetworkAdd) || changed(FlagNetworkRemove) {
		nets, err := editNetworks(task.Networks, o.networksRemove.Values, o.networks.Values, resolve)
		if err != nil {
			return err
		}
		task.Networks = nets
	}

	if changed(FlagReplicas) {
		switch {
		case spec.Mode.Replicated != nil:
			spec.Mode.Replicated.Replicas = o.replicas.Value
		case spec.Mode.ReplicatedJob != nil:
			spec.Mode.ReplicatedJob.TotalCompletions = o.replicas.Value
		default:
			return errors.New("replicas can only be used with replicated or replicated-job mode")
		}
	}
	if changed(FlagMaxConcurrent) {
		if spec.Mode.ReplicatedJob == nil {
			return errors.New("max-concurrent can only be used with replicated-job mode")
		}
		spec.Mode.ReplicatedJob.MaxConcurrent = o.maxConcurrent.Value
	}

	if anyChanged(changed, o.update.names(true)...) {
		if spec.UpdateConfig == nil {
			c := defaultUpdateConfig
			spec.UpdateConfig = &c
		}
		o.update.apply(spec.UpdateConfig, changed, true)
	}
	if anyChanged(changed, o.rollback.names(false)...) {
		if spec.RollbackConfig == nil {
			c := defaultUpdateConfig
			spec.RollbackConfig = &c
		}
		o.rollback.apply(spec.RollbackConfig, changed, false)
	}

	if changed(FlagEndpointMode) {
		if spec.EndpointSpec == nil {
			spec.EndpointSpec = &swarm.EndpointSpec{}
		}
		spec.EndpointSpec.Mode = swarm.ResolutionMode(strings.ToLower(o.endpointMode))
	}
	if changed(FlagPublishAdd) || changed(FlagPublishRemove) {
		if spec.EndpointSpec == nil {
			spec.EndpointSpec = &swarm.EndpointSpec{}
		}
		spec.EndpointSpec.Ports = editPorts(spec.EndpointSpec.Ports, o.portsRemove.Ports, o.ports.Ports)
	}

	if o.force {
		task.ForceUpdate++
	}
	return nil
}

func setIf[T any](changed func(string) bool, flag string, field *T, v T) {
	if changed(flag) {
		*field = v
	}
}

func resources(task *swarm.TaskSpec) *swarm.ResourceRequirements {
	if task.Resources == nil {
		task.Resources = &swarm.ResourceRequirements{}
	}
	if task.Resources.Limits == nil {
		task.Resources.Limits = &swarm.Limit{}
	}
	if task.Resources.Reservations == nil {
		task.Resources.Reservations = &swarm.Resources{}
	}
	return task.Resources
}

func (o *Service) applyHealthcheck(cs *swarm.ContainerSpec, changed func(string) bool) error {
	healthFlags := []string{FlagHealthCmd, FlagHealthInterval, FlagHealthTimeout, FlagHealthRetries, FlagHealthStartPeriod}
	if !anyChanged(changed, append(healthFlags, FlagNoHealthcheck)...) {
		return nil
	}
	if o.noHealthcheck {
		if anyChanged(changed, healthFlags...) {
			return fmt.Errorf("--%s conflicts with --health-* options", FlagNoHealthcheck)
		}
		cs.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	if cs.Healthcheck == nil {
		cs.Healthcheck = &container.HealthConfig{}
	}
	hc := cs.Healthcheck
	if len(hc.Test) > 0 && hc.Test[0] == "NONE" {
		hc.Test = nil
	}
	if changed(FlagHealthInterval) {
		hc.Interval = *o.healthInterval.Value
	}
	if changed(FlagHealthTimeout) {
		hc.Timeout = *o.healthTimeout.Value
	}
	if changed(FlagHealthStartPeriod) {
		hc.StartPeriod = *o.healthStartPeriod.Value
	}
	setIf(changed, FlagHealthRetries, &hc.Retries, o.healthRetries)
	if changed(FlagHealthCmd) {
		hc.Test = nil
		if o.healthCmd != "" {
			hc.Test = []string{"CMD-SHELL", o.healthCmd}
		}
	}
	return nil
}

// editMap removes keys, then adds "key=value" items.
func editMap(m map[string]string, remove, add []string) map[string]string {
	for _, k := range remove {
		delete(m, k)
	}
	if len(add) > 0 && m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, KVMap(add))
	return m
}

// editEnv removes variables by name and sets added ones, keeping each
// variable's place and appending new ones.
func editEnv(env, remove, add []string) []string {
	out := []string{}
	for _, e := range env {
		if !slices.Contains(remove, envKey(e)) {
			out = append(out, e)
		}
	}
	return dedupEnv(append(out, add...))
}

func editConstraints(current, remove, add []string) []string {
	out := []string{}
	for _, c := range append(slices.Clone(current), add...) {
		if !slices.Contains(remove, c) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	// Sorted so that an update that changes nothing leaves the spec alone.
	slices.Sort(out)
	return out
}

func editPrefs(current, remove, add []swarm.PlacementPreference) []swarm.PlacementPreference {
	var out []swarm.PlacementPreference
	for _, p := range current {
		if !slices.ContainsFunc(remove, func(r swarm.PlacementPreference) bool {
			return r.Spread != nil && p.Spread != nil && r.Spread.SpreadDescriptor == p.Spread.SpreadDescriptor
		}) {
			out = append(out, p)
		}
	}
	return append(out, add...)
}

func portKey(p swarm.PortConfig) string {
	return fmt.Sprintf("%v:%v/%s/%s", p.PublishedPort, p.TargetPort, p.Protocol, p.PublishMode)
}

// editPorts removes ports by target port (and protocol and mode), then adds
// the new ones, sorted so that repeating an update changes nothing.
func editPorts(current, remove, add []swarm.PortConfig) []swarm.PortConfig {
	sameProto := func(a, b swarm.PortConfig) bool {
		return a.Protocol == b.Protocol || a.Protocol == "" && b.Protocol == "tcp" || a.Protocol == "tcp" && b.Protocol == ""
	}
	sameMode := func(a, b swarm.PortConfig) bool {
		return a.PublishMode == b.PublishMode ||
			a.PublishMode == "" && b.PublishMode == swarm.PortConfigPublishModeIngress ||
			a.PublishMode == swarm.PortConfigPublishModeIngress && b.PublishMode == ""
	}
	seen := map[string]bool{}
	out := []swarm.PortConfig{}
	for _, p := range current {
		if seen[portKey(p)] {
			continue
		}
		seen[portKey(p)] = true
		if slices.ContainsFunc(remove, func(r swarm.PortConfig) bool {
			return r.TargetPort == p.TargetPort && sameProto(r, p) && sameMode(r, p)
		}) {
			continue
		}
		out = append(out, p)
	}
	for _, p := range add {
		if !seen[portKey(p)] {
			seen[portKey(p)] = true
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b swarm.PortConfig) int { return cmp.Compare(portKey(a), portKey(b)) })
	return out
}

// editMounts replaces mounts by target, removes the targets given, and sorts
// by source then target.
func editMounts(current []mount.Mount, remove []string, add []mount.Mount) ([]mount.Mount, error) {
	byTarget := map[string]mount.Mount{}
	for _, m := range add {
		if _, dup := byTarget[m.Target]; dup {
			return nil, errors.New("duplicate mount target")
		}
		byTarget[m.Target] = m
	}
	for _, m := range current {
		if _, ok := byTarget[m.Target]; !ok {
			byTarget[m.Target] = m
		}
	}
	out := []mount.Mount{}
	for _, m := range byTarget {
		if !slices.Contains(remove, m.Target) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b mount.Mount) int {
		if c := cmp.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		return cmp.Compare(a.Target, b.Target)
	})
	return out, nil
}

func genericKind(r swarm.GenericResource) string {
	if r.DiscreteResourceSpec != nil {
		return r.DiscreteResourceSpec.Kind
	}
	if r.NamedResourceSpec != nil {
		return r.NamedResourceSpec.Kind
	}
	return ""
}

func editGenericResources(current []swarm.GenericResource, remove, add []string) ([]swarm.GenericResource, error) {
	added, err := genericResources(add)
	if err != nil {
		return nil, err
	}
	out := []swarm.GenericResource{}
	for _, r := range current {
		if slices.ContainsFunc(added, func(a swarm.GenericResource) bool { return genericKind(a) == genericKind(r) }) {
			continue
		}
		out = append(out, r)
	}
	for _, kind := range remove {
		i := slices.IndexFunc(out, func(r swarm.GenericResource) bool { return genericKind(r) == kind })
		if i < 0 {
			return nil, fmt.Errorf("could not find generic-resource `%s` to remove it", kind)
		}
		out = slices.Delete(out, i, i+1)
	}
	out = append(out, added...)
	slices.SortStableFunc(out, func(a, b swarm.GenericResource) int { return cmp.Compare(genericKind(a), genericKind(b)) })
	return out, nil
}

// NetworkAttachments resolves --network values ("name" or
// "name=backend,alias=web") to attachments sorted by network ID.
func NetworkAttachments(values []string, resolve ResolveNetwork) ([]swarm.NetworkAttachmentConfig, error) {
	var out []swarm.NetworkAttachmentConfig
	for _, v := range values {
		a, err := parseNetwork(v)
		if err != nil {
			return nil, err
		}
		if a.Target, err = resolve(a.Target); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b swarm.NetworkAttachmentConfig) int { return cmp.Compare(a.Target, b.Target) })
	return out, nil
}

func parseNetwork(v string) (swarm.NetworkAttachmentConfig, error) {
	if !strings.Contains(v, "=") {
		return swarm.NetworkAttachmentConfig{Target: v}, nil
	}
	var a swarm.NetworkAttachmentConfig
	for _, field := range strings.Split(v, ",") {
		key, val, _ := strings.Cut(field, "=")
		switch key {
		case "name":
			a.Target = val
		case "alias":
			a.Aliases = append(a.Aliases, val)
		case "driver-opt":
			k, dv, _ := strings.Cut(val, "=")
			if a.DriverOpts == nil {
				a.DriverOpts = map[string]string{}
			}
			a.DriverOpts[k] = dv
		default:
			return a, fmt.Errorf("invalid field key %s", key)
		}
	}
	if a.Target == "" {
		return a, errors.New("network name/id is not specified")
	}
	return a, nil
}

func editNetworks(current []swarm.NetworkAttachmentConfig, remove, add []string, resolve ResolveNetwork) ([]swarm.NetworkAttachmentConfig, error) {
	removeIDs := map[string]bool{}
	for _, r := range remove {
		id, err := resolve(r)
		if err != nil {
			return nil, err
		}
		removeIDs[id] = true
	}
	var out []swarm.NetworkAttachmentConfig
	have := map[string]bool{}
	for _, n := range current {
		if !removeIDs[n.Target] {
			out = append(out, n)
			have[n.Target] = true
		}
	}
	added, err := NetworkAttachments(add, resolve)
	if err != nil {
		return nil, err
	}
	for _, n := range added {
		if have[n.Target] {
			return nil, fmt.Errorf("service is already attached to network %s", n.Target)
		}
		out = append(out, n)
		have[n.Target] = true
	}
	slices.SortFunc(out, func(a, b swarm.NetworkAttachmentConfig) int { return cmp.Compare(a.Target, b.Target) })
	return out, nil
}
