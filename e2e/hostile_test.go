package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/limits"
)

// TestHostile sends a single-node daemon requests a careless or hostile
// client could send — malformed JSON on every POST route, sizes and numbers
// at and just past each limit, references to nothing, bad query parameters
// and version prefixes — and checks that each is refused with a 4xx whose
// message names the problem, that the daemon still answers, and that
// nothing stored changed. The daemon runs in a memory-limited cgroup: a
// request that made it allocate without bound (2^63 replicas did) fails
// the test with an OOM kill instead of taking the machine down.
func TestHostile(t *testing.T) {
	// Made before the daemon, so that it goes after the daemon is stopped:
	// the daemon stays limited as long as it runs.
	mem := newMemoryCgroup(t, 512<<20)
	d := StartDaemon(t)
	mem.add(d.cmd.Process.Pid)
	initSwarm(t, d)
	h := &hostile{t: t, d: d, http: d.HTTPClient()}
	h.setUp()

	for _, tc := range refusedCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := h.in(t)
			before := h.state()
			code, msg := h.send(tc.method, tc.path, tc.body)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Errorf("got %d %q, want %d with a message containing %q", code, msg, tc.code, tc.msg)
			}
			h.wantAlive()
			if after := h.state(); after != before {
				t.Errorf("a refused request changed the state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	for _, tc := range acceptedCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := h.in(t)
			code, msg := h.send(tc.method, tc.path, tc.body)
			if code/100 != 2 {
				t.Fatalf("got %d %q, want it accepted", code, msg)
			}
			h.wantAlive()
			if tc.tasks > 0 {
				// The orchestrator creates them all, inside the cgroup's
				// memory.
				Eventually(t, 3*time.Minute, func() string {
					var tasks []swarm.Task
					h.get("/tasks?filters="+url.QueryEscape(`{"service":["`+tc.service+`"]}`), &tasks)
					if len(tasks) != tc.tasks {
						return fmt.Sprintf("%d tasks of %s, want %d", len(tasks), tc.service, tc.tasks)
					}
					return ""
				})
				h.wantAlive()
			}
			if tc.undo != "" {
				if code, msg := h.send("DELETE", tc.undo, nil); code/100 != 2 {
					t.Fatalf("undo got %d %q", code, msg)
				}
			}
		})
	}
	h.wantAlive()
	if n := mem.oomKills(); n != 0 {
		t.Fatalf("the daemon's cgroup saw %d OOM kills, want none", n)
	}
	t.Logf("the daemon's memory cgroup peaked at %d MiB", mem.peak()>>20)
}

// hostileCase is a request and the answer expected. Paths and bodies may
// hold placeholders that setUp's objects fill in ({svc}, {svcVersion},
// ...), read afresh for every case.
type hostileCase struct {
	name         string
	method, path string
	body         any // a string is sent as is, anything else as JSON
	code         int
	msg          string
}

// Every POST route that decodes a JSON body.
var jsonRoutes = []string{
	"/swarm/init", "/swarm/join", "/swarm/update?version={swarmVersion}", "/swarm/unlock",
	"/nodes/{node}/update?version={nodeVersion}",
	"/services/create", "/services/{svc}/update?version={svcVersion}", "/services/{svc}/canary?version={svcVersion}",
	"/secrets/create", "/secrets/{secret}/update?version={secretVersion}",
	"/configs/create", "/configs/{config}/update?version={configVersion}",
	"/containers/nosuchcontainer/exec", "/exec/nosuchexec/start",
}

// svc is a service spec as JSON, from the parts a case changes. Its
// tasks need a node label no node has, so that they stay pending: the
// cases exercise the store and the API, never images or containers.
type svc struct {
	name      string
	mode      string // JSON of Mode; "" leaves it out
	container string // fields added to ContainerSpec, with a leading comma
	placement string // fields added to Placement, with a leading comma
	task      string // fields added to TaskTemplate, with a leading comma
	top       string // fields added to the spec, with a leading comma
}

func (s svc) String() string {
	mode := ""
	if s.mode != "" {
		mode = `,"Mode":` + s.mode
	}
	return `{"Name":"` + s.name + `","TaskTemplate":{"ContainerSpec":{"Image":"busybox"` + s.container +
		`},"Placement":{"Constraints":["node.labels.never==true"]` + s.placement + `}` + s.task + `}` + mode + s.top + `}`
}

func replicated(name, n string) string {
	return svc{name: name, mode: `{"Replicated":{"Replicas":` + n + `}}`}.String()
}

func manyLabels(n, valueSize int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[strconv.Itoa(i)] = strings.Repeat("v", valueSize)
	}
	return m
}

func refusedCases() []hostileCase {
	var cases []hostileCase
	for _, route := range jsonRoutes {
		cases = append(cases,
			hostileCase{"malformed JSON " + route, "POST", route, `{"Name":`, 400, "invalid JSON"},
			hostileCase{"wrong JSON type " + route, "POST", route, `["x"]`, 400, "invalid JSON: json: cannot unmarshal array into Go value"},
		)
	}
	tooBig := strings.Repeat("A", limits.MaxRequestBody)
	cases = append(cases, []hostileCase{
		// Numbers.
		{"replicas of 2^63", "POST", "/services/create", replicated("big", "9223372036854775808"), 400,
			"Number of replicas must be non-negative (Mode.Replicated.Replicas: 9223372036854775808"},
		{"replicas of 2^64", "POST", "/services/create", replicated("big", "18446744073709551616"), 400,
			"cannot unmarshal number 18446744073709551616 into Go struct field"},
		{"replicas past the limit", "POST", "/services/create", replicated("big", "10001"), 400,
			"Mode.Replicated.Replicas: 10001 is more than the cluster's limit of 10000 (swarm label com.shoal.limits.max-replicas)"},
		{"replicas past the limit on update", "POST", "/services/{svc}/update?version={svcVersion}", replicated("web", "10001"), 400,
			"Mode.Replicated.Replicas: 10001 is more than the cluster's limit of 10000"},
		{"negative replicas", "POST", "/services/create", replicated("big", "-1"), 400,
			"cannot unmarshal number -1 into Go struct field"},
		{"job completions of 2^64-1", "POST", "/services/create", svc{name: "big", mode: `{"ReplicatedJob":{"TotalCompletions":18446744073709551615}}`}, 400,
			"Total completed jobs must not be negative"},
		{"job concurrency of 2^63", "POST", "/services/create", svc{name: "big", mode: `{"ReplicatedJob":{"MaxConcurrent":9223372036854775808,"TotalCompletions":1}}`}, 400,
			"Maximum concurrent jobs must not be negative"},
		{"job completions past the limit", "POST", "/services/create", svc{name: "big", mode: `{"ReplicatedJob":{"TotalCompletions":10001}}`}, 400,
			"Mode.ReplicatedJob.TotalCompletions: 10001 is more than the cluster's limit of 10000"},
		{"max replicas per node past the limit", "POST", "/services/create", svc{name: "big", placement: `,"MaxReplicas":10001`}, 400,
			"TaskTemplate.Placement.MaxReplicas: 10001 is more than the cluster's limit of 10000"},
		{"restart attempts past the footprint", "POST", "/services/create",
			svc{name: "big", mode: `{"Replicated":{"Replicas":1000}}`, task: `,"RestartPolicy":{"MaxAttempts":4611686018427387904}`}, 400,
			"service footprint too large: 1000 slots × 1000002 tasks per slot"},
		{"negative update delay", "POST", "/services/create", svc{name: "bad", top: `,"UpdateConfig":{"Delay":-1}`}, 400, "TaskSpec: update-delay cannot be negative"},
		{"update delay past the limit", "POST", "/services/create", svc{name: "bad", top: `,"UpdateConfig":{"Delay":31536000000000001}`}, 400,
			"UpdateConfig.Delay: 8760h0m0.000000001s is out of range (0 to 8760h0m0s)"},
		{"update delay past int64", "POST", "/services/create", svc{name: "bad", top: `,"UpdateConfig":{"Delay":9223372036854775808}`}, 400,
			"cannot unmarshal number 9223372036854775808 into Go struct field UpdateConfig.ServiceSpec.UpdateConfig.Delay of type time.Duration"},
		{"update failure ratio past 1", "POST", "/services/create", svc{name: "bad", top: `,"UpdateConfig":{"MaxFailureRatio":1.5}`}, 400,
			"update-maxfailureratio cannot be less than 0 or bigger than 1"},
		{"job with an update config", "POST", "/services/create", svc{name: "bad", mode: `{"ReplicatedJob":{}}`, top: `,"UpdateConfig":{"Parallelism":1}`}, 400,
			"Jobs may not have an update config"},
		{"port past 65535", "POST", "/services/create", svc{name: "bad", top: `,"EndpointSpec":{"Ports":[{"TargetPort":70000}]}`}, 400,
			"EndpointSpec: target port 70000 is out of range (1-65535)"},
		{"task history past the limit", "POST", "/swarm/update?version={swarmVersion}", `{"Name":"default","Orchestration":{"TaskHistoryRetentionLimit":1001}}`, 400,
			"Orchestration.TaskHistoryRetentionLimit: 1001 is more than the limit of 1000"},
		{"negative task history", "POST", "/swarm/update?version={swarmVersion}", `{"Name":"default","Orchestration":{"TaskHistoryRetentionLimit":-1}}`, 400,
			"Orchestration.TaskHistoryRetentionLimit cannot be negative"},
		{"negative heartbeat", "POST", "/swarm/update?version={swarmVersion}", `{"Name":"default","Dispatcher":{"HeartbeatPeriod":-1}}`, 400,
			"heartbeat time period cannot be a negative duration"},
		{"heartbeat past the limit", "POST", "/swarm/update?version={swarmVersion}", `{"Name":"default","Dispatcher":{"HeartbeatPeriod":31536000000000001}}`, 400,
			"Dispatcher.HeartbeatPeriod: 8760h0m0.000000001s is out of range"},
		{"certificate expiry under an hour", "POST", "/swarm/update?version={swarmVersion}", `{"Name":"default","CAConfig":{"NodeCertExpiry":60000000000}}`, 400,
			"minimum certificate expiry time is: 1h0m0s"},
		{"negative election tick", "POST", "/swarm/update?version={swarmVersion}", `{"Name":"default","Raft":{"ElectionTick":-1}}`, 400,
			"Raft.ElectionTick: -1 is out of range"},
		{"malformed max-replicas label", "POST", "/swarm/update?version={swarmVersion}", `{"Name":"default","Labels":{"com.shoal.limits.max-replicas":"lots"}}`, 400,
			`Labels["com.shoal.limits.max-replicas"]: "lots" must be a whole number from 1 to 1000000`},
		{"max-replicas label under a service", "POST", "/swarm/update?version={swarmVersion}", `{"Name":"default","Labels":{"com.shoal.limits.max-replicas":"1"}}`, 400,
			"service web would be past the swarm's new limits"},

		// Sizes.
		{"body past the limit", "POST", "/services/create", `{"Name":"` + tooBig + `"}`, 413, "request body is too large: the limit is 4194304 bytes (4 MiB)"},
		{"body past the limit on an update", "POST", "/nodes/{node}/update?version={nodeVersion}", `{"Labels":{"x":"` + tooBig + `"}}`, 413, "request body is too large"},
		{"secret past the data limit", "POST", "/secrets/create", map[string]any{"Name": "big", "Data": make([]byte, limits.MaxSecretData)}, 400,
			"rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes"},
		{"config past the data limit", "POST", "/configs/create", map[string]any{"Name": "big", "Data": make([]byte, limits.MaxConfigData)}, 400,
			"rpc error: code = InvalidArgument desc = config data must be larger than 0 and less than 1024000 bytes"},
		{"service spec past the size limit", "POST", "/services/create", svc{name: "bad", top: `,"Labels":` + mustJSON(manyLabels(40, limits.MaxLabelValueSize))}, 400,
			"service spec is too large"},
		{"service labels past the limit", "POST", "/services/create", svc{name: "bad", top: `,"Labels":` + mustJSON(manyLabels(limits.MaxLabels+1, 0))}, 400,
			"Labels: 1001 labels, the limit is 1000"},
		{"container label value past the limit", "POST", "/services/create",
			svc{name: "bad", container: `,"Labels":{"k":"` + strings.Repeat("v", limits.MaxLabelValueSize+1) + `"}`}, 400,
			`TaskTemplate.ContainerSpec.Labels["k"]: a value of 65537 bytes, the limit is 65536 (64 KiB)`},
		{"label key past the limit", "POST", "/secrets/create", map[string]any{"Name": "big", "Data": []byte("x"), "Labels": map[string]string{strings.Repeat("k", limits.MaxLabelKeySize+1): ""}}, 400,
			"Labels: a key of 1025 bytes"},
		{"secret labels past the limit on update", "POST", "/secrets/{secret}/update?version={secretVersion}", map[string]any{"Name": "s", "Labels": manyLabels(limits.MaxLabels+1, 0)}, 400,
			"Labels: 1001 labels, the limit is 1000"},
		{"config spec past the size limit on update", "POST", "/configs/{config}/update?version={configVersion}", map[string]any{"Name": "c", "Labels": manyLabels(40, limits.MaxLabelValueSize)}, 400,
			"config spec is too large"},
		{"node labels past the limit", "POST", "/nodes/{node}/update?version={nodeVersion}", map[string]any{"Role": "manager", "Availability": "active", "Labels": manyLabels(limits.MaxLabels+1, 0)}, 400,
			"Labels: 1001 labels, the limit is 1000"},
		{"node spec past the size limit", "POST", "/nodes/{node}/update?version={nodeVersion}", map[string]any{"Role": "manager", "Availability": "active", "Labels": manyLabels(40, limits.MaxLabelValueSize)}, 400,
			"node spec is too large"},
		{"swarm labels past the limit", "POST", "/swarm/update?version={swarmVersion}", map[string]any{"Name": "default", "Labels": manyLabels(limits.MaxLabels+1, 0)}, 400,
			"Labels: 1001 labels, the limit is 1000"},
		{"swarm spec past the size limit", "POST", "/swarm/update?version={swarmVersion}", map[string]any{"Name": "default", "Labels": manyLabels(40, limits.MaxLabelValueSize)}, 400,
			"swarm spec is too large"},

		// References.
		{"missing network", "POST", "/services/create", svc{name: "bad", task: `,"Networks":[{"Target":"no-such-network"}]`}, 404,
			"network no-such-network not found"},
		{"missing network of an old client", "POST", "/v1.41/services/create", svc{name: "bad", top: `,"Networks":[{"Target":"no-such-network"}]`}, 404,
			"network no-such-network not found"},
		{"missing network on update", "POST", "/services/{svc}/update?version={svcVersion}",
			svc{name: "web", mode: `{"Replicated":{"Replicas":2}}`, task: `,"Networks":[{"Target":"no-such-network"}]`}, 404, "network no-such-network not found"},
		{"missing secret", "POST", "/services/create",
			svc{name: "bad", container: `,"Secrets":[{"SecretID":"nosuchsecret","SecretName":"nope","File":{"Name":"nope"}}]`}, 400,
			"rpc error: code = InvalidArgument desc = secret not found: nope"},
		{"missing config", "POST", "/services/create",
			svc{name: "bad", container: `,"Configs":[{"ConfigID":"nosuchconfig","ConfigName":"nope","File":{"Name":"/nope"}}]`}, 400,
			"rpc error: code = InvalidArgument desc = config not found: nope"},

		// Query parameters.
		{"status=bogus", "GET", "/services?status=bogus", nil, 400, `invalid value for status: bogus: strconv.ParseBool: parsing "bogus": invalid syntax`},
		{"insertDefaults=bogus", "GET", "/services/{svc}?insertDefaults=bogus", nil, 400, "invalid value for insertDefaults: bogus"},
		{"registryAuthFrom=bogus", "POST", "/services/{svc}/update?version={svcVersion}&registryAuthFrom=bogus", replicated("web", "2"), 400,
			"unsupported registryAuthFrom value"},
		{"rollback=bogus", "POST", "/services/{svc}/update?version={svcVersion}&rollback=bogus", replicated("web", "2"), 400,
			"unrecognized rollback option bogus"},
		{"service version=bogus", "POST", "/services/{svc}/update?version=bogus", replicated("web", "2"), 400,
			"invalid service version 'bogus'"},
		{"rotateWorkerToken=bogus", "POST", "/swarm/update?version={swarmVersion}&rotateWorkerToken=bogus", `{"Name":"default"}`, 400, "invalid value for rotateWorkerToken: bogus"},
		{"rotateManagerToken=bogus", "POST", "/swarm/update?version={swarmVersion}&rotateManagerToken=bogus", `{"Name":"default"}`, 400, "invalid value for rotateManagerToken: bogus"},
		{"rotateManagerUnlockKey=bogus", "POST", "/swarm/update?version={swarmVersion}&rotateManagerUnlockKey=bogus", `{"Name":"default"}`, 400,
			"invalid value for rotateManagerUnlockKey: bogus"},
		{"swarm version=bogus", "POST", "/swarm/update?version=bogus", `{"Name":"default"}`, 400, "invalid swarm version 'bogus'"},
		{"malformed filters", "GET", "/services?filters={", nil, 400, "invalid filter"},
		{"unknown filter", "GET", "/secrets?filters=" + `{"driver":{"x":true}}`, nil, 400, "invalid filter 'driver'"},

		// Version prefixes.
		{"version of four numbers", "GET", "/v1.41.99.1/services", nil, 400, "client version 1.41.99.1 is not an API version: want MAJOR.MINOR"},
		{"version with a letter", "GET", "/v1.x/services", nil, 404, "page not found"},
		{"version too new", "POST", "/v9.99/services/create", replicated("new", "1"), 400,
			"client version 9.99 is too new. Maximum supported API version is 1.56"},
		{"version too old", "GET", "/v1.0/services", nil, 400, "client version 1.0 is too old. Minimum supported API version is 1.24"},
	}...)
	return cases
}

// acceptedCase is a request at a limit that must be accepted; undo
// removes what it made. When tasks is set, the case waits for the service
// to have that many.
type acceptedCase struct {
	name         string
	method, path string
	body         any
	undo         string
	service      string
	tasks        int
}

func acceptedCases() []acceptedCase {
	return []acceptedCase{
		{"replicas at the limit", "POST", "/services/create", replicated("many", "10000"), "/services/many", "many", 10000},
		{"secret at the data limit", "POST", "/secrets/create", map[string]any{"Name": "big", "Data": make([]byte, limits.MaxSecretData-1)}, "/secrets/big", "", 0},
		{"config of 600 KB", "POST", "/configs/create", map[string]any{"Name": "600kb", "Data": make([]byte, 600_000)}, "/configs/600kb", "", 0},
		{"config at the data limit", "POST", "/configs/create", map[string]any{"Name": "big", "Data": make([]byte, limits.MaxConfigData-1)}, "/configs/big", "", 0},
		{"labels at the limit", "POST", "/services/create", svc{name: "bad", top: `,"Labels":` + mustJSON(manyLabels(limits.MaxLabels, 0))}.String(), "/services/bad", "", 0},
		{"label value at the limit", "POST", "/secrets/create", map[string]any{"Name": "labelled", "Data": []byte("x"), "Labels": manyLabels(1, limits.MaxLabelValueSize)}, "/secrets/labelled", "", 0},
		{"durations at the limit", "POST", "/services/create", svc{name: "bad", top: `,"UpdateConfig":{"Delay":31536000000000000,"Monitor":31536000000000000}`}.String(), "/services/bad", "", 0},
		{"update parallelism of 2^64-1", "POST", "/services/create", svc{name: "bad", top: `,"UpdateConfig":{"Parallelism":18446744073709551615}`}.String(), "/services/bad", "", 0},
		{"job concurrency above completions", "POST", "/services/create", svc{name: "job", mode: `{"ReplicatedJob":{"MaxConcurrent":5,"TotalCompletions":2}}`}.String(), "/services/job", "", 0},
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// hostile talks HTTP to one daemon.
type hostile struct {
	t    *testing.T
	d    *Daemon
	http *http.Client
}

// in returns h for a subtest, whose failures are its own.
func (h *hostile) in(t *testing.T) *hostile {
	return &hostile{t: t, d: h.d, http: h.http}
}

// setUp makes the objects the cases refer to: a service no node can run,
// a secret and a config.
func (h *hostile) setUp() {
	h.t.Helper()
	for _, req := range []struct{ path, body string }{
		{"/services/create", replicated("web", "2")},
		{"/secrets/create", `{"Name":"s","Data":"eA=="}`},
		{"/configs/create", `{"Name":"c","Data":"eA=="}`},
	} {
		if code, msg := h.send("POST", req.path, req.body); code != http.StatusCreated {
			h.t.Fatalf("POST %s got %d %q, want 201", req.path, code, msg)
		}
	}
}

// send makes one request, placeholders filled in, and returns the status
// and the error message (or the body, when it is not an error).
func (h *hostile) send(method, path string, body any) (int, string) {
	h.t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(h.fill(b))
	case fmt.Stringer:
		data = []byte(h.fill(b.String()))
	default:
		data = []byte(h.fill(mustJSON(b)))
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, "http://shoal"+h.fill(path), bytes.NewReader(data))
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var e struct{ Message string }
	if json.Unmarshal(out, &e) == nil && e.Message != "" {
		return resp.StatusCode, e.Message
	}
	return resp.StatusCode, string(out)
}

func (h *hostile) get(path string, v any) {
	h.t.Helper()
	resp, err := h.http.Get("http://shoal" + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
}

var placeholder = regexp.MustCompile(`\{(swarm|svc|secret|config|node)(Version)?\}`)

// fill replaces the placeholders with the current IDs and versions.
func (h *hostile) fill(s string) string {
	if !placeholder.MatchString(s) {
		return s
	}
	var (
		sw  swarm.Swarm
		svc swarm.Service
		sec swarm.Secret
		cfg swarm.Config
		nds []swarm.Node
	)
	h.get("/swarm", &sw)
	h.get("/services/web", &svc)
	h.get("/secrets/s", &sec)
	h.get("/configs/c", &cfg)
	h.get("/nodes", &nds)
	v := func(n uint64) string { return strconv.FormatUint(n, 10) }
	return strings.NewReplacer(
		"{swarmVersion}", v(sw.Version.Index),
		"{svc}", svc.ID, "{svcVersion}", v(svc.Version.Index),
		"{secret}", sec.ID, "{secretVersion}", v(sec.Version.Index),
		"{config}", cfg.ID, "{configVersion}", v(cfg.Version.Index),
		"{node}", nds[0].ID, "{nodeVersion}", v(nds[0].Version.Index),
	).Replace(s)
}

// state is what the daemon stores, as its API shows it: services, secrets,
// configs, nodes and the swarm with their specs and versions, and the IDs
// of the tasks. Node status, which heartbeats move, is left out.
func (h *hostile) state() string {
	h.t.Helper()
	var (
		svcs  []swarm.Service
		secs  []swarm.Secret
		cfgs  []swarm.Config
		nodes []swarm.Node
		tasks []swarm.Task
		sw    swarm.Swarm
	)
	h.get("/services", &svcs)
	h.get("/secrets", &secs)
	h.get("/configs", &cfgs)
	h.get("/nodes", &nodes)
	h.get("/tasks", &tasks)
	h.get("/swarm", &sw)
	type obj struct {
		ID      string
		Version uint64
		Spec    any
	}
	var out []any
	for _, s := range svcs {
		out = append(out, obj{s.ID, s.Version.Index, s.Spec})
	}
	for _, s := range secs {
		out = append(out, obj{s.ID, s.Version.Index, s.Spec})
	}
	for _, c := range cfgs {
		out = append(out, obj{c.ID, c.Version.Index, c.Spec})
	}
	for _, n := range nodes {
		out = append(out, obj{n.ID, 0, n.Spec})
	}
	var ids []string
	for _, t := range tasks {
		ids = append(ids, t.ID)
	}
	slices.Sort(ids)
	out = append(out, obj{sw.ID, sw.Version.Index, sw.Spec}, sw.JoinTokens, ids)
	return mustJSON(out)
}

func (h *hostile) wantAlive() {
	h.t.Helper()
	resp, err := h.http.Get("http://shoal/_ping")
	if err != nil {
		h.t.Fatalf("the daemon stopped answering: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("_ping got %s, want 200", resp.Status)
	}
}

// memoryCgroup is a memory-limited cgroup.
type memoryCgroup struct {
	t                    *testing.T
	dir                  string
	eventsFile, peakFile string
}

// newMemoryCgroup makes a cgroup under the test's own whose processes may
// use max bytes, and removes it when the test ends (its processes must be
// gone by then). It uses cgroup v2 when the memory controller is there,
// else v1's memory hierarchy.
func newMemoryCgroup(t *testing.T, max int64) *memoryCgroup {
	t.Helper()
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var v1, v2 string
	for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			v1 = parts[2]
		}
	}
	c := &memoryCgroup{t: t}
	var parent, limitFile string
	if ctl, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && slices.Contains(strings.Fields(string(ctl)), "memory") {
		parent = filepath.Join("/sys/fs/cgroup", v2)
		limitFile, c.eventsFile, c.peakFile = "memory.max", "memory.events", "memory.peak"
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
			t.Fatalf("cgroup v2: cannot enable the memory controller under %s (the test needs a delegated cgroup): %v", parent, err)
		}
	} else {
		parent = filepath.Join("/sys/fs/cgroup/memory", v1)
		limitFile, c.eventsFile, c.peakFile = "memory.limit_in_bytes", "memory.oom_control", "memory.max_usage_in_bytes"
	}
	c.dir = filepath.Join(parent, fmt.Sprintf("shoal-hostile-%d", os.Getpid()))
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		t.Fatalf("make a memory cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := os.Remove(c.dir); err != nil {
			t.Errorf("remove cgroup %s (is a process left in it?): %v", c.dir, err)
		}
	})
	if err := os.WriteFile(filepath.Join(c.dir, limitFile), []byte(strconv.FormatInt(max, 10)), 0); err != nil {
		t.Fatalf("limit memory: %v", err)
	}
	return c
}

// add moves the process pid, all its threads, into the cgroup. Memory it
// allocates from then on counts against the limit.
func (c *memoryCgroup) add(pid int) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		c.t.Fatalf("move process %d into %s: %v", pid, c.dir, err)
	}
}

// oomKills counts the processes the kernel killed for want of memory in
// the cgroup.
func (c *memoryCgroup) oomKills() int {
	c.t.Helper()
	data, err := os.ReadFile(filepath.Join(c.dir, c.eventsFile))
	if err != nil {
		c.t.Fatalf("read %s: %v", c.eventsFile, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if n, ok := strings.CutPrefix(line, "oom_kill "); ok {
			k, _ := strconv.Atoi(n)
			return k
		}
	}
	return 0
}

// peak is the most memory the cgroup used, in bytes (0 if the kernel does
// not say).
func (c *memoryCgroup) peak() int64 {
	data, _ := os.ReadFile(filepath.Join(c.dir, c.peakFile))
	n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n
}
