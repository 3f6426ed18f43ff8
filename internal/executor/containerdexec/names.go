package containerdexec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"

	"github.com/moby/moby/api/types/swarm"
)

// Labels Docker puts on the container of a swarm task; docker ps filters
// and the docker CLI's service commands rely on them.
const (
	LabelServiceID   = "com.docker.swarm.service.id"
	LabelServiceName = "com.docker.swarm.service.name"
	LabelTask        = "com.docker.swarm.task"
	LabelTaskID      = "com.docker.swarm.task.id"
	LabelTaskName    = "com.docker.swarm.task.name"
	LabelNodeID      = "com.docker.swarm.node.id"
)

// ContainerID returns the ID of the container that runs the task with ID
// taskID. It is derived from the task ID, not random, so that an agent that
// restarts finds the containers of its tasks again.
func ContainerID(taskID string) string {
	sum := sha256.Sum256([]byte(taskID))
	return hex.EncodeToString(sum[:])
}

// containerName returns the name Docker gives a task's container:
// SERVICE.SLOT.TASKID for replicated services, SERVICE.NODEID.TASKID for
// global ones (which have no slot). A name the agent already set wins.
func containerName(t *swarm.Task) string {
	if t.Annotations.Name != "" {
		return t.Annotations.Name
	}
	service := t.Annotations.Labels[LabelServiceName]
	if service == "" {
		service = t.ServiceID
	}
	if t.Slot != 0 {
		return fmt.Sprintf("%s.%d.%s", service, t.Slot, t.ID)
	}
	return fmt.Sprintf("%s.%s.%s", service, t.NodeID, t.ID)
}

// containerLabels returns the labels of a task's container: the container
// spec's labels, then the swarm labels, which a spec cannot override.
func containerLabels(t *swarm.Task, name string) map[string]string {
	labels := make(map[string]string)
	if cs := t.Spec.ContainerSpec; cs != nil {
		maps.Copy(labels, cs.Labels)
	}
	labels[LabelServiceID] = t.ServiceID
	labels[LabelServiceName] = t.Annotations.Labels[LabelServiceName]
	labels[LabelTask] = ""
	labels[LabelTaskID] = t.ID
	labels[LabelTaskName] = name
	labels[LabelNodeID] = t.NodeID
	return labels
}

// TaskContainersNamed returns the IDs of the containers that carry name
// as their task name (LabelTaskName, which every task container has, equal
// to its name): one containerd query filtered there, where Names reads
// every container's record. A plain container may carry the label too;
// callers tell those apart.
func (e *Executor) TaskContainersNamed(ctx context.Context, name string) ([]string, error) {
	ctrs, err := e.cfg.Client.Containers(e.ns(ctx), fmt.Sprintf("labels.%q==%q", LabelTaskName, name))
	if err != nil {
		return nil, fmt.Errorf("list containers named %s: %w", name, err)
	}
	ids := make([]string, len(ctrs))
	for i, c := range ctrs {
		ids[i] = c.ID()
	}
	return ids, nil
}
