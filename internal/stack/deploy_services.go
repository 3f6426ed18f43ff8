package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// LabelSpec holds a digest of the spec the files last gave a service, so
// that a redeploy of unchanged files updates nothing (the daemon fills in
// defaults, so the stored spec cannot be compared with the files' as is).
const LabelSpec = "com.shoal.stack.spec"

// deployed is a service a deploy created or updated.
type deployed struct{ id, name string }

// deployServices creates and updates the stack's services in depends_on
// order, waiting before it creates a service for the dependencies its
// conditions name. A service whose spec did not change is left alone.
func (d *Deployer) deployServices(ctx context.Context, s *Stack, cur *state, r refs, o DeployOptions) ([]deployed, error) {
	ordered, err := deployOrder(s.Services)
	if err != nil {
		return nil, err
	}
	d.showOrder(s.Namespace, ordered)
	networkIDs, err := d.networkIDs(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	var changed []deployed
	for _, svc := range ordered {
		spec, err := resolveRefs(svc.Spec, r)
		if err != nil {
			return changed, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		digest := specDigest(spec)
		spec.Labels = maps.Clone(spec.Labels)
		spec.Labels[LabelSpec] = digest
		image := spec.TaskTemplate.ContainerSpec.Image
		var auth string
		if o.RegistryAuth != nil {
			if auth, err = o.RegistryAuth(image); err != nil {
				return changed, err
			}
		}
		if existing, ok := cur.services[spec.Name]; ok {
			ids[svc.Name] = existing.ID
			final, query := updatedSpec(spec, existing, o.ResolveImage)
			if existing.Spec.Labels[LabelSpec] == digest && covers(existing.Spec, withNetworkIDs(final, networkIDs)) {
				continue
			}
			fmt.Fprintf(d.Out, "Updating service %s (id: %s)\n", spec.Name, existing.ID)
			res, err := d.API.ServiceUpdate(ctx, existing.ID, client.ServiceUpdateOptions{
				Version: existing.Version, Spec: final, EncodedRegistryAuth: auth, QueryRegistry: query,
			})
			if err != nil {
				return changed, fmt.Errorf("failed to update service %s: %w", spec.Name, err)
			}
			d.warn(res.Warnings)
			changed = append(changed, deployed{existing.ID, spec.Name})
			continue
		}
		for _, dep := range svc.DependsOn {
			if err := d.waitFor(ctx, Scope(s.Namespace, dep.Service), ids[dep.Service], dep.Condition, spec.Name); err != nil {
				return changed, err
			}
		}
		fmt.Fprintln(d.Out, "Creating service", spec.Name)
		res, err := d.API.ServiceCreate(ctx, client.ServiceCreateOptions{
			Spec: spec, EncodedRegistryAuth: auth, QueryRegistry: o.ResolveImage != ResolveImageNever,
		})
		if err != nil {
			return changed, fmt.Errorf("failed to create service %s: %w", spec.Name, err)
		}
		d.warn(res.Warnings)
		ids[svc.Name] = res.ID
		changed = append(changed, deployed{res.ID, spec.Name})
	}
	return changed, nil
}

func (d *Deployer) warn(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(d.Err, w)
	}
}

// showOrder prints the order services are deployed in, when depends_on
// makes one.
func (d *Deployer) showOrder(ns string, ordered []Service) {
	if !slices.ContainsFunc(ordered, func(s Service) bool { return len(s.DependsOn) > 0 }) {
		return
	}
	names := make([]string, len(ordered))
	for i, s := range ordered {
		names[i] = s.Spec.Name
	}
	fmt.Fprintln(d.Out, "Deploy order (depends_on):", strings.Join(names, ", "))
	for _, s := range ordered {
		var after []string
		for _, dep := range s.DependsOn {
			after = append(after, Scope(ns, dep.Service)+" "+conditionText(dep.Condition))
		}
		if len(after) > 0 {
			fmt.Fprintf(d.Out, "  %s after %s\n", s.Spec.Name, strings.Join(after, ", "))
		}
	}
}

func conditionText(c string) string {
	switch c {
	case types.ServiceConditionHealthy:
		return "is healthy"
	case types.ServiceConditionCompletedSuccessfully:
		return "completed successfully"
	}
	return "is created"
}

// deployOrder sorts services so that each comes after those it depends
// on; among those free to go, by name.
func deployOrder(services []Service) ([]Service, error) {
	byName := map[string]Service{}
	pending := map[string]int{}
	dependants := map[string][]string{}
	for _, s := range services {
		byName[s.Name] = s
		pending[s.Name] = len(s.DependsOn)
		for _, dep := range s.DependsOn {
			dependants[dep.Service] = append(dependants[dep.Service], s.Name)
		}
	}
	var ready, out []string
	for name, n := range pending {
		if n == 0 {
			ready = append(ready, name)
		}
	}
	for len(ready) > 0 {
		slices.Sort(ready)
		next := ready[0]
		ready = ready[1:]
		out = append(out, next)
		for _, d := range dependants[next] {
			if pending[d]--; pending[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(out) != len(services) {
		return nil, errors.New("depends_on has a cycle")
	}
	ordered := make([]Service, len(out))
	for i, name := range out {
		ordered[i] = byName[name]
	}
	return ordered, nil
}

// resolveRefs names, in a service's spec, the objects its secrets and
// configs resolve to now (a rotated one has a new name) and their IDs.
func resolveRefs(spec swarm.ServiceSpec, r refs) (swarm.ServiceSpec, error) {
	c := *spec.TaskTemplate.ContainerSpec
	c.Secrets = make([]*swarm.SecretReference, len(c.Secrets))
	for i, ref := range spec.TaskTemplate.ContainerSpec.Secrets {
		obj, ok := r.secrets[ref.SecretName]
		if !ok {
			return spec, fmt.Errorf("secret not found: %s", ref.SecretName)
		}
		cp := *ref
		cp.SecretName, cp.SecretID = obj.Name, obj.ID
		c.Secrets[i] = &cp
	}
	c.Configs = make([]*swarm.ConfigReference, len(c.Configs))
	for i, ref := range spec.TaskTemplate.ContainerSpec.Configs {
		obj, ok := r.configs[ref.ConfigName]
		if !ok {
			return spec, fmt.Errorf("config not found: %s", ref.ConfigName)
		}
		cp := *ref
		cp.ConfigName, cp.ConfigID = obj.Name, obj.ID
		c.Configs[i] = &cp
	}
	spec.TaskTemplate.ContainerSpec = &c
	return spec, nil
}

// networkIDs maps the names of swarm networks to their IDs.
func (d *Deployer) networkIDs(ctx context.Context) (map[string]string, error) {
	res, err := d.API.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("scope", "swarm")})
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, n := range res.Items {
		ids[n.Name] = n.ID
	}
	return ids, nil
}

// withNetworkIDs is spec with its networks named by ID, as the daemon
// stores them.
func withNetworkIDs(spec swarm.ServiceSpec, ids map[string]string) swarm.ServiceSpec {
	nets := slices.Clone(spec.TaskTemplate.Networks)
	for i, n := range nets {
		if id, ok := ids[n.Target]; ok {
			nets[i].Target = id
		}
	}
	spec.TaskTemplate.Networks = nets
	return spec
}

// specDigest identifies a spec the files give a service.
func specDigest(spec swarm.ServiceSpec) string {
	data, err := json.Marshal(spec)
	if err != nil {
		panic(err) // a ServiceSpec always marshals
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// updatedSpec is the spec an update of an existing service sends, as
// docker stack deploy makes it: an image the files did not change keeps
// the digest the daemon pinned (unless --resolve-image always asks the
// registry again), and ForceUpdate is kept so that nothing restarts for it.
func updatedSpec(spec swarm.ServiceSpec, existing swarm.Service, resolve string) (swarm.ServiceSpec, bool) {
	c := *spec.TaskTemplate.ContainerSpec
	spec.TaskTemplate.ContainerSpec = &c
	query := false
	unchanged := c.Image == existing.Spec.Labels[LabelImage]
	switch {
	case resolve == ResolveImageAlways:
		query = true
	case unchanged && existing.Spec.TaskTemplate.ContainerSpec != nil:
		c.Image = existing.Spec.TaskTemplate.ContainerSpec.Image
	case resolve == ResolveImageChanged:
		query = true
	}
	spec.TaskTemplate.ForceUpdate = existing.Spec.TaskTemplate.ForceUpdate
	return spec, query
}

// covers says whether the stored spec holds everything want sets: the
// daemon may have filled in what want leaves out, so only what want sets
// is compared. (What the files change is caught by the digest; this
// catches what was changed on the service since.)
func covers(stored, want swarm.ServiceSpec) bool {
	var s, w any
	if json.Unmarshal(mustJSON(stored), &s) != nil || json.Unmarshal(mustJSON(want), &w) != nil {
		return false
	}
	return subset(w, s)
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// subset says whether every value want sets (not null, zero, false, empty)
// is in have, recursively; lists must have the same length.
func subset(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, _ := have.(map[string]any)
		for k, v := range w {
			if isZero(v) {
				continue
			}
			if !subset(v, h[k]) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return len(w) == 0 && len(h) == 0
		}
		for i := range w {
			if !subset(w[i], h[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, have)
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// waitFor waits until a dependency meets the condition a service to be
// created names: healthy (every task it should run is running, which a
// task with a health check only is once healthy) or completed successfully
// (every task it should run has completed). A service that keeps failing
// ends the wait with its error.
func (d *Deployer) waitFor(ctx context.Context, depName, id, condition, dependant string) error {
	if condition != types.ServiceConditionHealthy && condition != types.ServiceConditionCompletedSuccessfully {
		return nil
	}
	what := "to be healthy"
	if condition == types.ServiceConditionCompletedSuccessfully {
		what = "to complete successfully"
	}
	fmt.Fprintf(d.Out, "Waiting for %s %s before creating %s\n", depName, what, dependant)
	last := ""
	for {
		svc, err := d.API.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		tasks, err := d.API.TaskList(ctx, client.TaskListOptions{
			Filters: make(client.Filters).Add("service", id).Add("_up-to-date", "true"),
		})
		if err != nil {
			return err
		}
		p := progressOf(svc.Service, tasks.Items, condition)
		if line := p.String(); line != last {
			fmt.Fprintf(d.Out, "  %s: %s\n", depName, line)
			last = line
		}
		switch {
		case p.done():
			return nil
		case p.failed >= maxDependencyFailures:
			return fmt.Errorf("%s is not created: its dependency %s failed %d times (%s)", dependant, depName, p.failed, p.lastErr)
		}
		if err := d.pause(ctx); err != nil {
			return err
		}
	}
}

// maxDependencyFailures is how many failed tasks of a dependency end a
// wait: a restart policy may retry a few, a broken one fails forever.
const maxDependencyFailures = 3

// progress is how far a dependency is towards a condition.
type progress struct {
	condition string
	met, want int
	failed    int
	lastErr   string
}

func (p progress) done() bool { return p.want > 0 && p.met >= p.want }

func (p progress) String() string {
	verb := "running"
	if p.condition == types.ServiceConditionCompletedSuccessfully {
		verb = "completed"
	}
	s := fmt.Sprintf("%d/%d tasks %s", p.met, p.want, verb)
	if p.failed > 0 {
		s += fmt.Sprintf(", %d failed: %s", p.failed, p.lastErr)
	}
	return s
}

// progressOf counts a dependency's up-to-date tasks towards condition.
func progressOf(svc swarm.Service, tasks []swarm.Task, condition string) progress {
	p := progress{condition: condition}
	switch m := svc.Spec.Mode; {
	case m.Replicated != nil && m.Replicated.Replicas != nil:
		p.want = int(*m.Replicated.Replicas)
	case m.ReplicatedJob != nil && m.ReplicatedJob.TotalCompletions != nil:
		p.want = int(*m.ReplicatedJob.TotalCompletions)
	case m.ReplicatedJob != nil, m.Replicated != nil:
		p.want = 1
	}
	// A global service or job should have a task on every node it has
	// one on, failed ones aside.
	global := p.want == 0
	for _, t := range tasks {
		switch t.Status.State {
		case swarm.TaskStateFailed, swarm.TaskStateRejected:
			p.failed++
			p.lastErr = t.Status.Err
			if p.lastErr == "" {
				p.lastErr = t.Status.Message
			}
			continue
		case swarm.TaskStateRunning:
			if condition == types.ServiceConditionHealthy && t.DesiredState == swarm.TaskStateRunning {
				p.met++
			}
		case swarm.TaskStateComplete:
			if condition == types.ServiceConditionCompletedSuccessfully {
				p.met++
			}
		}
		if global {
			p.want++
		}
	}
	return p
}
