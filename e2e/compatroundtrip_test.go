package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// Every field of a spec a client writes is read back as written: a
// service with every ServiceSpec field of the API set to something other
// than its default (testdata/compat/service.json), and the node, secret,
// config and swarm specs likewise.

// jsonDiff lists the paths where got differs from want, both decoded
// JSON.
func jsonDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
		}
		var out []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, jsonDiff(path+"."+k, w[k], g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
		}
		var out []string
		for i := range w {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	}
	if !reflect.DeepEqual(want, got) {
		return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
	}
	return nil
}

// roundTrip writes body with method and path, reads the object back
// from readPath, and fails the test on every field of body's spec (the
// object's Spec) that did not come back as written, but those named in
// omit.
func roundTrip(t *testing.T, c *apiClient, what, method, path, readPath, body string, omit ...string) map[string]any {
	t.Helper()
	var created struct{ ID string }
	c.must(t, method, path, body, &created)
	readPath = strings.ReplaceAll(readPath, "{id}", created.ID)
	var obj map[string]any
	c.must(t, "GET", readPath, "", &obj)
	var want map[string]any
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	for _, k := range omit {
		delete(want, k)
	}
	for _, d := range jsonDiff(what, want, obj["Spec"]) {
		t.Errorf("not read back as written: %s", d)
	}
	return obj
}

// Templating of secrets and configs is left out: Shoal refuses it, with a
// message, rather than store what it would not act on.
func compatRoundTrip(t *testing.T, d *Daemon) {
	c := newAPIClient(d.Socket)
	var info struct {
		Swarm struct {
			NodeID  string
			Cluster map[string]any
		}
	}
	c.must(t, "GET", "/info", "", &info)
	selfPath := "/nodes/" + info.Swarm.NodeID
	sec := roundTrip(t, c, "SecretSpec", "POST", "/secrets/create", "/secrets/{id}",
		`{"Name":"rt-secret","Labels":{"s":"1"},"Data":"c2VjcmV0"}`, "Data") // never read back, as in Docker
	cfg := roundTrip(t, c, "ConfigSpec", "POST", "/configs/create", "/configs/{id}",
		`{"Name":"rt-config","Labels":{"c":"1"},"Data":"Y29uZmln"}`)
	var netw struct{ ID string }
	c.must(t, "POST", "/networks/create", `{"Name":"rt-net","Driver":"overlay","Attachable":true}`, &netw)

	raw, err := os.ReadFile("testdata/compat/service.json")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer("{secret}", sec["ID"].(string), "{config}", cfg["ID"].(string), "{net}", netw.ID).Replace(string(raw))
	svc := roundTrip(t, c, "ServiceSpec", "POST", "/services/create", "/services/{id}", body)
	if out, err := d.TryDocker("service", "inspect", "--pretty", "rt-every-field"); err != nil || !strings.Contains(out, "rt-every-field") {
		t.Errorf("docker service inspect --pretty: %v\n%s", err, out)
	}

	var self map[string]any
	c.must(t, "GET", selfPath, "", &self)
	version := int(self["Version"].(map[string]any)["Index"].(float64))
	nodeSpec := `{"Name":"rt-node","Labels":{"zone":"a","rack":"7"},"Role":"manager","Availability":"pause"}`
	c.must(t, "POST", fmt.Sprintf("/nodes/%s/update?version=%d", self["ID"], version), nodeSpec, nil)
	c.must(t, "GET", selfPath, "", &self)
	var want any
	json.Unmarshal([]byte(nodeSpec), &want)
	for _, d := range jsonDiff("NodeSpec", want, self["Spec"]) {
		t.Errorf("not read back as written: %s", d)
	}
	version = int(self["Version"].(map[string]any)["Index"].(float64))
	c.must(t, "POST", fmt.Sprintf("/nodes/%s/update?version=%d", self["ID"], version), `{"Role":"manager","Availability":"active"}`, nil)

	var sw map[string]any
	c.must(t, "GET", "/swarm", "", &sw)
	version = int(sw["Version"].(map[string]any)["Index"].(float64))
	swarmSpec := `{"Name":"default","Labels":{"env":"compat"},
		"Orchestration":{"TaskHistoryRetentionLimit":9},
		"Raft":{"SnapshotInterval":7000,"KeepOldSnapshots":3,"LogEntriesForSlowFollowers":700,"ElectionTick":10,"HeartbeatTick":1},
		"Dispatcher":{"HeartbeatPeriod":6000000000},
		"CAConfig":{"NodeCertExpiry":172800000000000},
		"TaskDefaults":{"LogDriver":{"Name":"json-file","Options":{"max-file":"3"}}},
		"EncryptionConfig":{"AutoLockManagers":false}}`
	c.must(t, "POST", fmt.Sprintf("/swarm/update?version=%d", version), swarmSpec, nil)
	c.must(t, "GET", "/swarm", "", &sw)
	json.Unmarshal([]byte(swarmSpec), &want)
	for _, d := range jsonDiff("SwarmSpec", want, sw["Spec"]) {
		t.Errorf("not read back as written: %s", d)
	}
	c.must(t, "GET", "/info", "", &info)
	for _, d := range jsonDiff("docker info Swarm.Cluster.Spec", want, info.Swarm.Cluster["Spec"]) {
		t.Errorf("not shown by docker info: %s", d)
	}

	c.do("DELETE", "/services/"+svc["ID"].(string), "")
	for _, p := range []string{"/secrets/rt-secret", "/configs/rt-config", "/networks/rt-net"} {
		c.do("DELETE", p, "")
	}
}
