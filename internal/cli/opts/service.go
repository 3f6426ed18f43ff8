package opts

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/pflag"
)

// Flag names shared by `service create` and `service update`.
const (
	FlagDetach                 = "detach"
	FlagQuiet                  = "quiet"
	FlagName                   = "name"
	FlagMode                   = "mode"
	FlagReplicas               = "replicas"
	FlagMaxConcurrent          = "max-concurrent"
	FlagMaxReplicas            = "replicas-max-per-node"
	FlagEnv                    = "env"
	FlagEnvAdd                 = "env-add"
	FlagEnvRemove              = "env-rm"
	FlagLabel                  = "label"
	FlagLabelAdd               = "label-add"
	FlagLabelRemove            = "label-rm"
	FlagContainerLabel         = "container-label"
	FlagContainerLabelAdd      = "container-label-add"
	FlagContainerLabelRemove   = "container-label-rm"
	FlagConstraint             = "constraint"
	FlagConstraintAdd          = "constraint-add"
	FlagConstraintRemove       = "constraint-rm"
	FlagPlacementPref          = "placement-pref"
	FlagPlacementPrefAdd       = "placement-pref-add"
	FlagPlacementPrefRemove    = "placement-pref-rm"
	FlagPublish                = "publish"
	FlagPublishAdd             = "publish-add"
	FlagPublishRemove          = "publish-rm"
	FlagMount                  = "mount"
	FlagMountAdd               = "mount-add"
	FlagMountRemove            = "mount-rm"
	FlagNetwork                = "network"
	FlagNetworkAdd             = "network-add"
	FlagNetworkRemove          = "network-rm"
	FlagGenericResource        = "generic-resource"
	FlagGenericResourceAdd     = "generic-resource-add"
	FlagGenericResourceRemove  = "generic-resource-rm"
	FlagReserveCPU             = "reserve-cpu"
	FlagReserveMemory          = "reserve-memory"
	FlagLimitCPU               = "limit-cpu"
	FlagLimitMemory            = "limit-memory"
	FlagLimitPids              = "limit-pids"
	FlagRestartCondition       = "restart-condition"
	FlagRestartDelay           = "restart-delay"
	FlagRestartMaxAttempts     = "restart-max-attempts"
	FlagRestartWindow          = "restart-window"
	FlagUpdateParallelism      = "update-parallelism"
	FlagUpdateDelay            = "update-delay"
	FlagUpdateMonitor          = "update-monitor"
	FlagUpdateFailureAction    = "update-failure-action"
	FlagUpdateMaxFailureRatio  = "update-max-failure-ratio"
	FlagUpdateOrder            = "update-order"
	FlagRollbackParallelism    = "rollback-parallelism"
	FlagRollbackDelay          = "rollback-delay"
	FlagRollbackMonitor        = "rollback-monitor"
	FlagRollbackFailureAction  = "rollback-failure-action"
	FlagRollbackMaxFailureRate = "rollback-max-failure-ratio"
	FlagRollbackOrder          = "rollback-order"
	FlagHealthCmd              = "health-cmd"
	FlagHealthInterval         = "health-interval"
	FlagHealthTimeout          = "health-timeout"
	FlagHealthRetries          = "health-retries"
	FlagHealthStartPeriod      = "health-start-period"
	FlagNoHealthcheck          = "no-healthcheck"
	FlagWorkdir                = "workdir"
	FlagUser                   = "user"
	FlagHostname               = "hostname"
	FlagStopSignal             = "stop-signal"
	FlagStopGracePeriod        = "stop-grace-period"
	FlagEntrypoint             = "entrypoint"
	FlagInit                   = "init"
	FlagTTY                    = "tty"
	FlagEndpointMode           = "endpoint-mode"
	FlagNoResolveImage         = "no-resolve-image"
	FlagImage                  = "image"
	FlagArgs                   = "args"
	FlagForce                  = "force"
	FlagRollback               = "rollback"
)

// Swarm's defaults, which a changed --update-*, --rollback-* or --restart-*
// flag starts from (the daemon fills them in when the whole block is absent).
var (
	defaultUpdateConfig = swarm.UpdateConfig{
		Parallelism: 1, Monitor: 5 * time.Second, FailureAction: swarm.UpdateFailureActionPause, Order: swarm.UpdateOrderStopFirst,
	}
	defaultRestartDelay = 5 * time.Second
)

type updateFlags struct {
	parallelism     uint64
	delay           time.Duration
	monitor         time.Duration
	failureAction   string
	maxFailureRatio Ratio
	order           string
}

// Service holds the values of the service flags; Spec and Apply turn them into
// a service spec. Register them with AddCreateFlags or AddUpdateFlags.
type Service struct {
	Detach         bool
	Quiet          bool
	NoResolveImage bool

	name, mode     string
	replicas       Uint64
	maxConcurrent  Uint64
	maxReplicas    uint64
	env            *List
	envRemove      *List
	labels         *List
	labelsRemove   *List
	cLabels        *List
	cLabelsRemove  *List
	constraints    *List
	constraintsRm  *List
	prefs          PrefList
	prefsRemove    PrefList
	ports          PortList
	portsRemove    PortList
	mounts         MountList
	mountsRemove   *List
	networks       *List
	networksRemove *List
	generic        *List
	genericRemove  *List
	reserveCPU     NanoCPUs
	reserveMem     MemBytes
	limitCPU       NanoCPUs
	limitMem       MemBytes
	limitPids      int64

	restartCondition   string
	restartDelay       Duration
	restartMaxAttempts Uint64
	restartWindow      Duration

	update, rollback updateFlags

	healthCmd         string
	healthInterval    Duration
	healthTimeout     Duration
	healthRetries     int
	healthStartPeriod Duration
	noHealthcheck     bool

	workdir, user, hostname, stopSignal string
	stopGrace                           Duration
	entrypoint                          ShellWords
	init, tty                           bool
	endpointMode                        string

	image string
	args  ShellWords
	force bool

	// Rollback asks `service update` for the service's previous spec.
	Rollback bool
}

// NewService returns flag values whose bare "-e KEY" is completed from lookup
// (os.LookupEnv in the CLI).
func NewService(lookupEnv func(string) (string, bool)) *Service {
	return &Service{
		env:            NewList(EnvValidator(lookupEnv)),
		envRemove:      NewList(nil),
		labels:         NewList(LabelValidator),
		labelsRemove:   NewList(nil),
		cLabels:        NewList(LabelValidator),
		cLabelsRemove:  NewList(nil),
		constraints:    NewList(nil),
		constraintsRm:  NewList(nil),
		mountsRemove:   NewList(nil),
		networks:       NewList(nil),
		networksRemove: NewList(nil),
		generic:        NewList(GenericResourceValidator),
		genericRemove:  NewList(nil),
		restartDelay:   Duration{},
		healthInterval: Duration{Positive: true}, healthTimeout: Duration{Positive: true}, healthStartPeriod: Duration{Positive: true},
	}
}

// addCommonFlags registers the flags `service create` and `service update` share.
func (o *Service) addCommonFlags(fs *pflag.FlagSet, create bool) {
	fs.BoolVarP(&o.Detach, FlagDetach, "d", false, "Exit immediately instead of waiting for the service to converge")
	fs.BoolVarP(&o.Quiet, FlagQuiet, "q", false, "Suppress progress output")
	fs.BoolVar(&o.NoResolveImage, FlagNoResolveImage, false, "Do not query the registry to resolve image digest and supported platforms")
	fs.StringVarP(&o.workdir, FlagWorkdir, "w", "", "Working directory inside the container")
	fs.StringVarP(&o.user, FlagUser, "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVar(&o.hostname, FlagHostname, "", "Container hostname")
	fs.Var(&o.entrypoint, FlagEntrypoint, "Overwrite the default ENTRYPOINT of the image")
	fs.StringVar(&o.stopSignal, FlagStopSignal, "", "Signal to stop the container")
	fs.Var(&o.stopGrace, FlagStopGracePeriod, "Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)")
	fs.BoolVar(&o.init, FlagInit, false, "Use an init inside each service container to forward signals and reap processes")
	fs.BoolVarP(&o.tty, FlagTTY, "t", false, "Allocate a pseudo-TTY")
	fs.StringVar(&o.endpointMode, FlagEndpointMode, "vip", "Endpoint mode (vip or dnsrr)")

	fs.Var(&o.replicas, FlagReplicas, "Number of tasks")
	fs.Var(&o.maxConcurrent, FlagMaxConcurrent, "Number of job tasks to run concurrently (default equal to --replicas)")
	fs.Uint64Var(&o.maxReplicas, FlagMaxReplicas, 0, "Maximum number of tasks per node (default 0 = unlimited)")

	fs.Var(&o.reserveCPU, FlagReserveCPU, "Reserve CPUs")
	fs.Var(&o.reserveMem, FlagReserveMemory, "Reserve Memory")
	fs.Var(&o.limitCPU, FlagLimitCPU, "Limit CPUs")
	fs.Var(&o.limitMem, FlagLimitMemory, "Limit Memory")
	fs.Int64Var(&o.limitPids, FlagLimitPids, 0, "Limit maximum number of processes (default 0 = unlimited)")

	fs.StringVar(&o.restartCondition, FlagRestartCondition, "", `Restart when condition is met ("none", "on-failure", "any") (default "any")`)
	fs.Var(&o.restartDelay, FlagRestartDelay, "Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)")
	fs.Var(&o.restartMaxAttempts, FlagRestartMaxAttempts, "Maximum number of restarts before giving up")
	fs.Var(&o.restartWindow, FlagRestartWindow, "Window used to evaluate the restart policy (ns|us|ms|s|m|h)")

	defaultParallelism := uint64(0)
	if create {
		defaultParallelism = 1
	}
	fs.Uint64Var(&o.update.parallelism, FlagUpdateParallelism, defaultParallelism, "Maximum number of tasks updated simultaneously (0 to update all at once)")
	fs.DurationVar(&o.update.delay, FlagUpdateDelay, 0, "Delay between updates (ns|us|ms|s|m|h) (default 0s)")
	fs.DurationVar(&o.update.monitor, FlagUpdateMonitor, 0, "Duration after each task update to monitor for failure (ns|us|ms|s|m|h) (default 5s)")
	fs.StringVar(&o.update.failureAction, FlagUpdateFailureAction, "", `Action on update failure ("pause", "continue", "rollback") (default "pause")`)
	fs.Var(&o.update.maxFailureRatio, FlagUpdateMaxFailureRatio, "Failure rate to tolerate during an update (default 0)")
	fs.StringVar(&o.update.order, FlagUpdateOrder, "", `Update order ("start-first", "stop-first") (default "stop-first")`)
	fs.Uint64Var(&o.rollback.parallelism, FlagRollbackParallelism, defaultParallelism, "Maximum number of tasks rolled back simultaneously (0 to roll back all at once)")
	fs.DurationVar(&o.rollback.delay, FlagRollbackDelay, 0, "Delay between task rollbacks (ns|us|ms|s|m|h) (default 0s)")
	fs.DurationVar(&o.rollback.monitor, FlagRollbackMonitor, 0, "Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h) (default 5s)")
	fs.StringVar(&o.rollback.failureAction, FlagRollbackFailureAction, "", `Action on rollback failure ("pause", "continue") (default "pause")`)
	fs.Var(&o.rollback.maxFailureRatio, FlagRollbackMaxFailureRate, "Failure rate to tolerate during a rollback (default 0)")
	fs.StringVar(&o.rollback.order, FlagRollbackOrder, "", `Rollback order ("start-first", "stop-first") (default "stop-first")`)

	fs.StringVar(&o.healthCmd, FlagHealthCmd, "", "Command to run to check health")
	fs.Var(&o.healthInterval, FlagHealthInterval, "Time between running the check (ms|s|m|h)")
	fs.Var(&o.healthTimeout, FlagHealthTimeout, "Maximum time to allow one check to run (ms|s|m|h)")
	fs.IntVar(&o.healthRetries, FlagHealthRetries, 0, "Consecutive failures needed to report unhealthy")
	fs.Var(&o.healthStartPeriod, FlagHealthStartPeriod, "Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)")
	fs.BoolVar(&o.noHealthcheck, FlagNoHealthcheck, false, "Disable any container-specified HEALTHCHECK")
}

// AddCreateFlags registers the flags of `service create`.
func (o *Service) AddCreateFlags(fs *pflag.FlagSet) {
	o.addCommonFlags(fs, true)
	fs.StringVar(&o.name, FlagName, "", "Service name")
	fs.StringVar(&o.mode, FlagMode, "replicated", `Service mode ("replicated", "global", "replicated-job", "global-job")`)
	fs.VarP(o.env, FlagEnv, "e", "Set environment variables")
	fs.VarP(o.labels, FlagLabel, "l", "Service labels")
	fs.Var(o.cLabels, FlagContainerLabel, "Container labels")
	fs.Var(o.constraints, FlagConstraint, "Placement constraints")
	fs.Var(&o.prefs, FlagPlacementPref, "Add a placement preference")
	fs.VarP(&o.ports, FlagPublish, "p", "Publish a port as a node port")
	fs.Var(&o.mounts, FlagMount, "Attach a filesystem mount to the service")
	fs.Var(o.networks, FlagNetwork, "Network attachments")
	fs.Var(o.generic, FlagGenericResource, "User defined resources")
}

// AddUpdateFlags registers the flags of `service update`.
func (o *Service) AddUpdateFlags(fs *pflag.FlagSet) {
	o.addCommonFlags(fs, false)
	fs.StringVar(&o.image, FlagImage, "", "Service image tag")
	fs.Var(&o.args, FlagArgs, "Service command args")
	fs.BoolVar(&o.force, FlagForce, false, "Force update even if no changes require it")
	fs.BoolVar(&o.Rollback, FlagRollback, false, "Rollback to previous specification")
	fs.Var(o.env, FlagEnvAdd, "Add or update an environment variable")
	fs.Var(o.envRemove, FlagEnvRemove, "Remove an environment variable")
	fs.Var(o.labels, FlagLabelAdd, "Add or update a service label")
	fs.Var(o.labelsRemove, FlagLabelRemove, "Remove a label by its key")
	fs.Var(o.cLabels, FlagContainerLabelAdd, "Add or update a container label")
	fs.Var(o.cLabelsRemove, FlagContainerLabelRemove, "Remove a container label by its key")
	fs.Var(o.constraints, FlagConstraintAdd, "Add or update a placement constraint")
	fs.Var(o.constraintsRm, FlagConstraintRemove, "Remove a constraint")
	fs.Var(&o.prefs, FlagPlacementPrefAdd, "Add a placement preference")
	fs.Var(&o.prefsRemove, FlagPlacementPrefRemove, "Remove a placement preference")
	fs.Var(&o.ports, FlagPublishAdd, "Add or update a published port")
	fs.Var(&o.portsRemove, FlagPublishRemove, "Remove a published port by its target port")
	fs.Var(&o.mounts, FlagMountAdd, "Add or update a mount on a service")
	fs.Var(o.mountsRemove, FlagMountRemove, "Remove a mount by its target path")
	fs.Var(o.networks, FlagNetworkAdd, "Add a network")
	fs.Var(o.networksRemove, FlagNetworkRemove, "Remove a network")
	fs.Var(o.generic, FlagGenericResourceAdd, "Add a Generic resource")
	fs.Var(o.genericRemove, FlagGenericResourceRemove, "Remove a Generic resource")
}

// Spec builds the spec of `service create IMAGE ARGS...` from the flags;
// changed reports whether a flag was given (pflag.FlagSet.Changed) and resolve
// maps --network names to IDs.
func (o *Service) Spec(image string, args []string, changed func(string) bool, resolve ResolveNetwork) (swarm.ServiceSpec, error) {
	mode, err := o.serviceMode()
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	health, err := o.healthConfig()
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	updateConfig := o.update.config(changed, true)
	rollbackConfig := o.rollback.config(changed, false)
	if (mode.ReplicatedJob != nil || mode.GlobalJob != nil) && (updateConfig != nil || rollbackConfig != nil) {
		return swarm.ServiceSpec{}, errors.New("update and rollback configuration is not supported for jobs")
	}
	generic, err := genericResources(o.generic.Values)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	networks, err := NetworkAttachments(o.networks.Values, resolve)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	var stopGrace *time.Duration
	if changed(FlagStopGracePeriod) {
		stopGrace = o.stopGrace.Value
	}
	init := o.init
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: o.name, Labels: KVMap(o.labels.Values)},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:           image,
				Args:            args,
				Command:         o.entrypoint.Words,
				Env:             dedupEnv(o.env.Values),
				Hostname:        o.hostname,
				Labels:          KVMap(o.cLabels.Values),
				Dir:             o.workdir,
				User:            o.user,
				StopSignal:      o.stopSignal,
				TTY:             o.tty,
				Mounts:          o.mounts.Mounts,
				Init:            &init,
				StopGracePeriod: stopGrace,
				Healthcheck:     health,
				DNSConfig:       &swarm.DNSConfig{},
			},
			Resources: &swarm.ResourceRequirements{
				Limits:       &swarm.Limit{NanoCPUs: int64(o.limitCPU), MemoryBytes: int64(o.limitMem), Pids: o.limitPids},
				Reservations: &swarm.Resources{NanoCPUs: int64(o.reserveCPU), MemoryBytes: int64(o.reserveMem), GenericResources: generic},
			},
			Networks:      networks,
			RestartPolicy: o.restartPolicy(changed, nil),
			Placement: &swarm.Placement{
				Constraints: o.constraints.Values,
				Preferences: o.prefs.Prefs,
				MaxReplicas: o.maxReplicas,
			},
		},
		Mode:           mode,
		UpdateConfig:   updateConfig,
		RollbackConfig: rollbackConfig,
		EndpointSpec:   &swarm.EndpointSpec{Mode: swarm.ResolutionMode(strings.ToLower(o.endpointMode)), Ports: o.ports.Ports},
	}
	return spec, nil
}

func (o *Service) serviceMode() (swarm.ServiceMode, error) {
	var m swarm.ServiceMode
	switch o.mode {
	case "global":
		if o.replicas.Value != nil {
			return m, errors.New("replicas can only be used with replicated or replicated-job mode")
		}
		if o.maxReplicas > 0 {
			return m, errors.New("replicas-max-per-node can only be used with replicated or replicated-job mode")
		}
		if o.maxConcurrent.Value != nil {
			return m, errors.New("max-concurrent can only be used with replicated-job mode")
		}
		m.Global = &swarm.GlobalService{}
	case "replicated":
		if o.maxConcurrent.Value != nil {
			return m, errors.New("max-concurrent can only be used with replicated-job mode")
		}
		m.Replicated = &swarm.ReplicatedService{Replicas: o.replicas.Value}
	case "replicated-job":
		concurrent := o.maxConcurrent.Value
		if concurrent == nil {
			concurrent = o.replicas.Value
		}
		m.ReplicatedJob = &swarm.ReplicatedJob{MaxConcurrent: concurrent, TotalCompletions: o.replicas.Value}
	case "global-job":
		if o.maxReplicas > 0 {
			return m, errors.New("replicas-max-per-node can only be used with replicated or replicated-job mode")
		}
		if o.maxConcurrent.Value != nil {
			return m, errors.New("max-concurrent can only be used with replicated-job mode")
		}
		if o.replicas.Value != nil {
			return m, errors.New("replicas can only be used with replicated or replicated-job mode")
		}
		m.GlobalJob = &swarm.GlobalJob{}
	default:
		return m, fmt.Errorf("unknown mode: %s, only replicated, global, replicated-job and global-job are supported", o.mode)
	}
	return m, nil
}

func (o *Service) healthConfig() (*container.HealthConfig, error) {
	have := o.healthCmd != "" || o.healthInterval.Value != nil || o.healthTimeout.Value != nil ||
		o.healthStartPeriod.Value != nil || o.healthRetries != 0
	if o.noHealthcheck {
		if have {
			return nil, fmt.Errorf("--%s conflicts with --health-* options", FlagNoHealthcheck)
		}
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !have {
		return nil, nil
	}
	hc := &container.HealthConfig{Retries: o.healthRetries}
	if o.healthCmd != "" {
		hc.Test = []string{"CMD-SHELL", o.healthCmd}
	}
	if v := o.healthInterval.Value; v != nil {
		hc.Interval = *v
	}
	if v := o.healthTimeout.Value; v != nil {
		hc.Timeout = *v
	}
	if v := o.healthStartPeriod.Value; v != nil {
		hc.StartPeriod = *v
	}
	return hc, nil
}

// restartPolicy applies the changed --restart-* flags to base, or to Swarm's
// default policy when base is nil; it returns nil when none changed.
func (o *Service) restartPolicy(changed func(string) bool, base *swarm.RestartPolicy) *swarm.RestartPolicy {
	if !anyChanged(changed, FlagRestartCondition, FlagRestartDelay, FlagRestartMaxAttempts, FlagRestartWindow) {
		return base
	}
	p := base
	if p == nil {
		delay, attempts := defaultRestartDelay, uint64(0)
		p = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &delay, MaxAttempts: &attempts}
	}
	if changed(FlagRestartCondition) {
		p.Condition = swarm.RestartPolicyCondition(o.restartCondition)
	}
	if changed(FlagRestartDelay) {
		p.Delay = o.restartDelay.Value
	}
	if changed(FlagRestartMaxAttempts) {
		p.MaxAttempts = o.restartMaxAttempts.Value
	}
	if changed(FlagRestartWindow) {
		p.Window = o.restartWindow.Value
	}
	return p
}

func (u updateFlags) names(update bool) []string {
	if update {
		return []string{FlagUpdateParallelism, FlagUpdateDelay, FlagUpdateMonitor, FlagUpdateFailureAction, FlagUpdateMaxFailureRatio, FlagUpdateOrder}
	}
	return []string{FlagRollbackParallelism, FlagRollbackDelay, FlagRollbackMonitor, FlagRollbackFailureAction, FlagRollbackMaxFailureRate, FlagRollbackOrder}
}

// config returns Swarm's default update (or rollback) config with the changed
// flags applied, or nil when none changed.
func (u updateFlags) config(changed func(string) bool, update bool) *swarm.UpdateConfig {
	if !anyChanged(changed, u.names(update)...) {
		return nil
	}
	c := defaultUpdateConfig
	u.apply(&c, changed, update)
	return &c
}

func (u updateFlags) apply(c *swarm.UpdateConfig, changed func(string) bool, update bool) {
	n := u.names(update)
	if changed(n[0]) {
		c.Parallelism = u.parallelism
	}
	if changed(n[1]) {
		c.Delay = u.delay
	}
	if changed(n[2]) {
		c.Monitor = u.monitor
	}
	if changed(n[3]) {
		c.FailureAction = swarm.FailureAction(u.failureAction)
	}
	if changed(n[4]) {
		c.MaxFailureRatio = float32(u.maxFailureRatio)
	}
	if changed(n[5]) {
		c.Order = swarm.UpdateOrder(u.order)
	}
}

func anyChanged(changed func(string) bool, names ...string) bool {
	for _, n := range names {
		if changed(n) {
			return true
		}
	}
	return false
}

// dedupEnv keeps the last value given for each variable, in the order the
// variables were first given.
func dedupEnv(env []string) []string {
	if len(env) == 0 {
		return nil
	}
	var out []string
	index := map[string]int{}
	for _, e := range env {
		k := envKey(e)
		if i, ok := index[k]; ok {
			out[i] = e
			continue
		}
		index[k] = len(out)
		out = append(out, e)
	}
	return out
}

func envKey(e string) string {
	k, _, _ := strings.Cut(e, "=")
	return k
}

func genericResources(values []string) ([]swarm.GenericResource, error) {
	var out []swarm.GenericResource
	for _, v := range values {
		r, err := ParseGenericResource(v)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
