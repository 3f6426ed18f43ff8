package apiserver

import (
	"bytes"
	"io"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/shoal-project/shoal/internal/store"
)

// These tests drive the server with the real Docker Go client, so that
// every answer decodes the way Docker's own tools decode it.

func dockerClient(t *testing.T, sock string) *client.Client {
	t.Helper()
	c, err := client.New(client.WithHost("unix://"+sock), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientSwarmRoundTrip(t *testing.T) {
	tc := newTestCluster(t)
	putNodes(t, tc.store, testNode("mgr1", "alpha", swarm.NodeRoleManager, swarm.NodeStateReady))
	c := dockerClient(t, serve(t, Config{Cluster: tc, System: fakeSystem{}, Version: "0.1.0"}))
	ctx := t.Context()

	ping, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	if ping.APIVersion != APIVersion || ping.OSType != "linux" || ping.SwarmStatus == nil || !ping.SwarmStatus.ControlAvailable {
		t.Fatalf("ping got %+v, want API %s, linux, an active manager", ping, APIVersion)
	}
	if v, err := c.ServerVersion(ctx, client.ServerVersionOptions{}); err != nil || v.APIVersion != APIVersion || v.Version != "0.1.0" {
		t.Fatalf("version got %+v, %v", v, err)
	}
	if info, err := c.Info(ctx, client.InfoOptions{}); err != nil || info.Info.Swarm.NodeID != "node1" || info.Info.NCPU != 2 {
		t.Fatalf("info got %+v, %v", info.Info.Swarm, err)
	}

	spec := serviceSpec("web")
	spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: ptr(uint64(2))}}
	spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80}}}
	created, err := c.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec}); !cerrdefs.IsConflict(err) {
		t.Fatalf("duplicate create got %v, want a conflict", err)
	}

	insp, err := c.ServiceInspect(ctx, "web", client.ServiceInspectOptions{InsertDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	svc := insp.Service
	if svc.ID != created.ID || svc.Spec.UpdateConfig == nil || svc.Spec.UpdateConfig.Parallelism != 1 {
		t.Fatalf("inspect got %+v, want %s with default update config", svc, created.ID)
	}
	if len(svc.Endpoint.Ports) != 1 || svc.Endpoint.Ports[0].PublishedPort != 30000 {
		t.Fatalf("endpoint ports got %+v, want 80 published on 30000", svc.Endpoint.Ports)
	}
	if _, err := c.ServiceInspect(ctx, "nope", client.ServiceInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect of a missing service got %v, want not found", err)
	}

	list, err := c.ServiceList(ctx, client.ServiceListOptions{Status: true, Filters: make(client.Filters).Add("name", "we")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].ServiceStatus == nil || list.Items[0].ServiceStatus.DesiredTasks != 2 {
		t.Fatalf("list got %+v, want web wanting 2 tasks", list.Items)
	}

	plain, err := c.ServiceInspect(ctx, created.ID, client.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scaled := plain.Service.Spec
	scaled.Mode.Replicated.Replicas = ptr(uint64(5))
	if _, err := c.ServiceUpdate(ctx, created.ID, client.ServiceUpdateOptions{Version: plain.Service.Version, Spec: scaled}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServiceUpdate(ctx, created.ID, client.ServiceUpdateOptions{Version: plain.Service.Version, Spec: scaled}); !cerrdefs.IsConflict(err) {
		t.Fatalf("stale update got %v, want a conflict", err)
	}

	putObjects(t, tc.store, storeTask{ID: "task1", ServiceID: created.ID, NodeID: "mgr1", Slot: 1}.task())
	tasks, err := c.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", "web").Add("desired-state", "running")})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks.Items) != 1 || tasks.Items[0].ID != "task1" {
		t.Fatalf("tasks got %+v, want task1", tasks.Items)
	}
	nodes, err := c.NodeList(ctx, client.NodeListOptions{Filters: make(client.Filters).Add("role", "manager")})
	if err != nil || len(nodes.Items) != 1 || nodes.Items[0].Description.Hostname != "alpha" {
		t.Fatalf("nodes got %+v, %v", nodes.Items, err)
	}
	n, err := c.NodeInspect(ctx, "alpha", client.NodeInspectOptions{})
	if err != nil || n.Node.ID != "mgr1" {
		t.Fatalf("node inspect got %+v, %v", n.Node, err)
	}
	if _, err := c.ServiceRemove(ctx, "web", client.ServiceRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServiceRemove(ctx, "web", client.ServiceRemoveOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("second remove got %v, want not found", err)
	}
}

// storeTask is a running task to put in the store.
type storeTask swarm.Task

func (t storeTask) task() *store.Task {
	st := swarm.Task(t)
	st.DesiredState = swarm.TaskStateRunning
	st.Status.State = swarm.TaskStateRunning
	return &store.Task{Task: st, SpecVersion: 1}
}

func TestClientServiceLogs(t *testing.T) {
	tc := newTestCluster(t)
	logs := &fakeServiceLogs{}
	c := dockerClient(t, serve(t, Config{Cluster: tc, ServiceLogs: logs}))
	ctx := t.Context()
	created, err := c.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: serviceSpec("web")})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.ServiceLogs(ctx, "web", client.ServiceLogsOptions{ShowStdout: true, ShowStderr: true, Details: true, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	prefix := "2026-05-06T07:08:09.123456789Z com.docker.swarm.node.id=node1,com.docker.swarm.service.id=" + created.ID + ",com.docker.swarm.task.id=task1 "
	if got, want := stdout.String(), prefix+"out of task1\n"; got != want {
		t.Errorf("stdout got %q, want %q", got, want)
	}
	if got, want := stderr.String(), prefix+"err of task1\n"; got != want {
		t.Errorf("stderr got %q, want %q", got, want)
	}
	if logs.sel.ServiceID != created.ID {
		t.Errorf("backend asked for %+v, want service %s", logs.sel, created.ID)
	}

	// `docker service logs TASK` first tries the service, gets 404, then
	// asks for the task.
	if _, err := c.ServiceLogs(ctx, "task9", client.ServiceLogsOptions{ShowStdout: true}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("service logs of a task ID got %v, want not found", err)
	}
	putObjects(t, tc.store, storeTask{ID: "task9", ServiceID: created.ID, NodeID: "n1", Slot: 1}.task())
	rc, err = c.TaskLogs(ctx, "task9", client.TaskLogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if _, err := stdcopy.StdCopy(&stdout, &stderr, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if got := stdout.String(); got != "out of task9\n" || stderr.Len() != 0 {
		t.Errorf("task logs got stdout %q stderr %q, want only its stdout line", got, stderr.String())
	}
	if _, err := c.ServiceLogs(ctx, "web", client.ServiceLogsOptions{}); err == nil || !strings.Contains(err.Error(), "you must choose at least one stream") {
		t.Fatalf("logs without streams got %v", err)
	}
}

func TestClientContainersAndExec(t *testing.T) {
	ctrs := &fakeContainers{}
	c := dockerClient(t, serve(t, Config{Containers: ctrs}))
	ctx := t.Context()

	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("container list got %+v, %v", list.Items, err)
	}
	rc, err := c.ContainerLogs(ctx, "web.1.t1", client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if stdout.String() != "2026-05-06T07:08:09.123456789Z hello\n" || stderr.String() != "2026-05-06T07:08:09.123456789Z oops\n" {
		t.Errorf("container logs got %q / %q", stdout.String(), stderr.String())
	}
	rc, err = c.ContainerLogs(ctx, "tty", client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	rc.Close()
	if string(raw) != "hello\noops\n" {
		t.Errorf("tty container logs got %q, want raw lines", raw)
	}
	if _, err := c.ContainerLogs(ctx, "ghost", client.ContainerLogsOptions{ShowStdout: true}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("logs of a missing container got %v, want not found", err)
	}

	ex, err := c.ExecCreate(ctx, "c1", client.ExecCreateOptions{AttachStdin: true, AttachStdout: true, AttachStderr: true, Cmd: []string{"cat"}})
	if err != nil {
		t.Fatal(err)
	}
	att, err := c.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := att.Conn.Write([]byte("hello exec")); err != nil {
		t.Fatal(err)
	}
	if err := att.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		t.Fatal(err)
	}
	att.Close()
	if stdout.String() != "HELLO EXEC" || stderr.String() != "to stderr\n" {
		t.Fatalf("exec output got %q / %q, want HELLO EXEC / to stderr", stdout.String(), stderr.String())
	}
	if insp, err := c.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{}); err != nil || insp.ContainerID != "c1" {
		t.Fatalf("exec inspect got %+v, %v", insp, err)
	}
	// The client reports a refused upgrade by its status alone.
	if _, err := c.ExecAttach(ctx, "nope", client.ExecAttachOptions{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("attach to a missing exec got %v, want a 404", err)
	}
	if _, err := c.ContainerRemove(ctx, "c1", client.ContainerRemoveOptions{}); !cerrdefs.IsConflict(err) {
		t.Fatalf("remove of a running container got %v, want a conflict", err)
	}
	if _, err := c.ContainerRemove(ctx, "c1", client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
}

func TestClientImages(t *testing.T) {
	imgs := &fakeImages{}
	c := dockerClient(t, serve(t, Config{Images: imgs}))
	ctx := t.Context()

	pull, err := c.ImagePull(ctx, "busybox:latest", client.ImagePullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for m, err := range pull.JSONMessages(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimPrefix(m.ID+": "+m.Status, ": "))
	}
	want := []string{
		"latest: Pulling from library/busybox",
		"aaaaaaaaaaaa: Pulling fs layer",
		"aaaaaaaaaaaa: Pull complete",
		"Digest: sha256:1234",
		"Status: Downloaded newer image for docker.io/library/busybox:latest",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("pull progress got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if _, err := c.ImagePull(ctx, "missing", client.ImagePullOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("pull of a missing image got %v, want not found before any progress", err)
	}
	broken, err := c.ImagePull(ctx, "broken", client.ImagePullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := broken.Wait(ctx); err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("a pull failing midway got %v, want the error in the stream", err)
	}

	imp, err := c.ImageImport(ctx, client.ImageImportSource{Source: strings.NewReader("tarball"), SourceName: "-"}, "myimg:v1",
		client.ImageImportOptions{Changes: []string{"CMD [\"sh\"]", "ENV A=b"}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(imp)
	imp.Close()
	if !strings.Contains(string(out), `"status":"sha256:feed"`) {
		t.Fatalf("import answered %s, want the image ID as status", out)
	}
	if got := strings.Join(imgs.imported, "|"); got != `myimg:v1|tarball|CMD ["sh"]|ENV A=b` {
		t.Fatalf("import backend got %q", got)
	}

	load, err := c.ImageLoad(ctx, strings.NewReader("archive"))
	if err != nil {
		t.Fatal(err)
	}
	out, _ = io.ReadAll(load)
	load.Close()
	if !strings.Contains(string(out), "Loaded image: busybox:latest") || !strings.Contains(string(out), "Loaded image ID: sha256:beef") {
		t.Fatalf("load answered %s", out)
	}

	if insp, err := c.ImageInspect(ctx, "localhost:5000/team/app:v1"); err != nil || insp.ID != "sha256:feed" {
		t.Fatalf("inspect of a name with slashes got %+v, %v", insp, err)
	}
	if _, err := c.ImageInspect(ctx, "nothere"); !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect of a missing image got %v, want not found", err)
	}
	if _, err := c.ImageTag(ctx, client.ImageTagOptions{Source: "busybox", Target: "localhost:5000/team/bb:v2"}); err != nil {
		t.Fatal(err)
	}
	if imgs.tagged != [2]string{"busybox", "localhost:5000/team/bb:v2"} {
		t.Fatalf("tag backend got %v", imgs.tagged)
	}
	if _, err := c.DistributionInspect(ctx, "busybox:latest", client.DistributionInspectOptions{}); err == nil {
		t.Fatal("distribution inspect with the registry unreachable got no error")
	}
}
