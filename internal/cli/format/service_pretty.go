package format

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// ServicePretty writes `service inspect --pretty` for one service, in the
// layout docker's template produces (tabs included). networkNames maps network
// IDs to names; now dates the update status.
func ServicePretty(w io.Writer, s swarm.Service, networkNames map[string]string, now time.Time) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	spec := s.Spec
	task := spec.TaskTemplate
	cs := task.ContainerSpec
	if cs == nil {
		cs = &swarm.ContainerSpec{}
	}

	p("\nID:\t\t%s\nName:\t\t%s", s.ID, spec.Name)
	if len(spec.Labels) > 0 {
		p("\nLabels:")
		for _, k := range slices.Sorted(maps.Keys(spec.Labels)) {
			p("\n %s", kv(k, spec.Labels[k]))
		}
	}
	p("\nService Mode:")
	switch {
	case spec.Mode.Global != nil:
		p("\tGlobal")
	case spec.Mode.Replicated != nil:
		p("\tReplicated")
		if r := spec.Mode.Replicated.Replicas; r != nil {
			p("\n Replicas:\t%d", *r)
		}
	}
	if us := s.UpdateStatus; us != nil && us.State != "" {
		p("\nUpdateStatus:\n State:\t\t%s", us.State)
		if us.StartedAt != nil {
			p("\n Started:\t%s", AgoCapitalized(*us.StartedAt, now))
		}
		if us.State == swarm.UpdateStateCompleted && us.CompletedAt != nil {
			p("\n Completed:\t%s", AgoCapitalized(*us.CompletedAt, now))
		}
		p("\n Message:\t%s", us.Message)
	}
	p("\nPlacement:")
	if pl := task.Placement; pl != nil {
		if len(pl.Constraints) > 0 {
			p("\n Constraints:\t%v", pl.Constraints)
		}
		var prefs []string
		for _, pref := range pl.Preferences {
			if pref.Spread != nil {
				prefs = append(prefs, "spread="+pref.Spread.SpreadDescriptor)
			}
		}
		if len(prefs) > 0 {
			p("\n Preferences:   %v", prefs)
		}
		if pl.MaxReplicas > 0 {
			p("\n Max Replicas Per Node:   %d", pl.MaxReplicas)
		}
	}
	writeUpdateConfig(&b, "UpdateConfig", "Update order:      ", spec.UpdateConfig)
	writeUpdateConfig(&b, "RollbackConfig", "Rollback order:    ", spec.RollbackConfig)

	p("\nContainerSpec:\n Image:\t\t%s", cs.Image)
	if len(cs.Args) > 0 {
		p("\n Args:\t\t%s", spaced(cs.Args))
	}
	if len(cs.Env) > 0 {
		p("\n Env:\t\t%s", spaced(cs.Env))
	}
	if cs.Dir != "" {
		p("\n Dir:\t\t%s", cs.Dir)
	}
	if cs.Init != nil {
		p("\n Init:\t\t%t", *cs.Init)
	}
	if cs.User != "" {
		p("\n User: %s", cs.User)
	}
	if len(cs.CapabilityAdd) > 0 || len(cs.CapabilityDrop) > 0 {
		p("\nCapabilities:")
		if len(cs.CapabilityAdd) > 0 {
			p("\n Add: %s", strings.Join(cs.CapabilityAdd, ", "))
		}
		if len(cs.CapabilityDrop) > 0 {
			p("\n Drop: %s", strings.Join(cs.CapabilityDrop, ", "))
		}
	}
	if len(cs.Sysctls) > 0 {
		p("\nSysCtls:")
		for _, k := range slices.Sorted(maps.Keys(cs.Sysctls)) {
			if v := cs.Sysctls[k]; v != "" {
				p("\n %s: %s", k, v)
			} else {
				p("\n %s", k)
			}
		}
	}
	if len(cs.Ulimits) > 0 {
		limits := map[string]string{}
		for _, u := range cs.Ulimits {
			limits[u.Name] = fmt.Sprintf("%d:%d", u.Soft, u.Hard)
		}
		p("\nUlimits:")
		for _, k := range slices.Sorted(maps.Keys(limits)) {
			p("\n %s: %s", k, limits[k])
		}
	}
	if len(cs.Mounts) > 0 {
		p("\nMounts:")
	}
	for _, m := range cs.Mounts {
		p("\n Target:\t%s\n  Source:\t%s\n  ReadOnly:\t%t\n  Type:\t\t%s", m.Target, m.Source, m.ReadOnly, m.Type)
	}
	if len(cs.Configs) > 0 {
		p("\nConfigs:")
		for _, c := range cs.Configs {
			p("\n Target:\t%s\n  Source:\t%s", fileName(c.File), c.ConfigName)
		}
	}
	if len(cs.Secrets) > 0 {
		p("\nSecrets:")
		for _, sec := range cs.Secrets {
			name := ""
			if sec.File != nil {
				name = sec.File.Name
			}
			p("\n Target:\t%s\n  Source:\t%s", name, sec.SecretName)
		}
	}
	if ld := task.LogDriver; ld != nil {
		p("\nLog Driver:")
		if ld.Name != "" {
			p("\n Name:\t\t%s", ld.Name)
		}
		if len(ld.Options) > 0 {
			p("\n LogOpts:")
			for _, k := range slices.Sorted(maps.Keys(ld.Options)) {
				if v := ld.Options[k]; v != "" {
					p("\n  %s:       %s", k, v)
				} else {
					p("\n  %s", k)
				}
			}
		}
		// docker's template leaves a blank line after the log driver.
		p("\n")
	}
	writeResources(&b, task.Resources)
	if len(task.Networks) > 0 {
		p("\nNetworks:")
		for _, n := range task.Networks {
			name := n.Target
			if nn, ok := networkNames[n.Target]; ok {
				name = nn
			}
			p(" %s", name)
		}
		p(" ")
	}
	mode := ""
	if spec.EndpointSpec != nil {
		mode = string(spec.EndpointSpec.Mode)
	}
	p("\nEndpoint Mode:\t%s", mode)
	if len(s.Endpoint.Ports) > 0 {
		p("\nPorts:")
		for _, port := range s.Endpoint.Ports {
			p("\n PublishedPort = %d\n  Protocol = %s\n  TargetPort = %d\n  PublishMode = %s",
				port.PublishedPort, port.Protocol, port.TargetPort, port.PublishMode)
		}
		p(" ")
	}
	if hc := cs.Healthcheck; hc != nil {
		p("\n Healthcheck:\n  Interval = %s\n  Retries = %d\n  StartPeriod =\t%s\n  Timeout =\t%s",
			hc.Interval, hc.Retries, hc.StartPeriod, hc.Timeout)
		if len(hc.Test) > 0 {
			p("\n  Tests:")
			for _, t := range hc.Test {
				p("\n\t Test = %s", t)
			}
			p(" ")
		}
	}
	p("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeUpdateConfig(b *strings.Builder, title, orderLabel string, c *swarm.UpdateConfig) {
	if c == nil {
		return
	}
	fmt.Fprintf(b, "\n%s:\n Parallelism:\t%d", title, c.Parallelism)
	if c.Delay > 0 {
		fmt.Fprintf(b, "\n Delay:\t\t%s", c.Delay)
	}
	fmt.Fprintf(b, "\n On failure:\t%s", c.FailureAction)
	if c.Monitor > 0 {
		fmt.Fprintf(b, "\n Monitoring Period: %s", c.Monitor)
	}
	fmt.Fprintf(b, "\n Max failure ratio: %v\n %s%s", c.MaxFailureRatio, orderLabel, c.Order)
}

func writeResources(b *strings.Builder, r *swarm.ResourceRequirements) {
	if r == nil {
		return
	}
	b.WriteString("\nResources:")
	if res := r.Reservations; res != nil && (res.NanoCPUs > 0 || res.MemoryBytes > 0) {
		b.WriteString("\n Reservations:")
		if res.NanoCPUs > 0 {
			fmt.Fprintf(b, "\n  CPU:\t\t%v", float64(res.NanoCPUs)/1e9)
		}
		if res.MemoryBytes > 0 {
			fmt.Fprintf(b, "\n  Memory:\t%s", BinarySize(res.MemoryBytes))
		}
	}
	if l := r.Limits; l != nil && (l.NanoCPUs > 0 || l.MemoryBytes > 0 || l.Pids > 0) {
		b.WriteString("\n Limits:")
		if l.NanoCPUs > 0 {
			fmt.Fprintf(b, "\n  CPU:\t\t%v", float64(l.NanoCPUs)/1e9)
		}
		if l.MemoryBytes > 0 {
			fmt.Fprintf(b, "\n  Memory:\t%s", BinarySize(l.MemoryBytes))
		}
	}
	if r.Limits != nil && r.Limits.Pids > 0 {
		fmt.Fprintf(b, "\n  PIDs:\t\t%d", r.Limits.Pids)
	}
}

func spaced(items []string) string {
	var b strings.Builder
	for _, s := range items {
		b.WriteString(s + " ")
	}
	return b.String()
}

func fileName(f *swarm.ConfigReferenceFileTarget) string {
	if f == nil {
		return ""
	}
	return f.Name
}
