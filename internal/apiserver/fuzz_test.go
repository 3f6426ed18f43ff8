package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"
)

// fuzzRoutes are the endpoints whose bodies are decoded and validated by
// the cluster's control API; {v} is the object's current version unless
// the fuzzed query names one.
var fuzzRoutes = []string{
	"/services/create",
	"/services/web/update?version={v}",
	"/secrets/create",
	"/secrets/s/update?version={v}",
	"/configs/create",
	"/configs/c/update?version={v}",
	"/networks/create",
	"/swarm/update?version={v}",
	"/nodes/node1/update?version={v}",
	"/swarm/init",
	"/swarm/join",
	"/swarm/unlock",
}

// FuzzRequestBody sends any body, with any query, to the endpoints that
// create and update swarm objects, in process (no socket). Whatever the
// body, the answer is never a 500 (a panic is answered 500), and when it
// is an error the store is exactly as before: nothing half-applied.
func FuzzRequestBody(f *testing.F) {
	for i, body := range []string{
		`{"Name":"new","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`,
		`{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","1"]}},"Mode":{"Replicated":{"Replicas":3}}}`,
		`{"Name":"s2","Data":"c2VjcmV0"}`,
		`{"Name":"s","Data":"c2VjcmV0","Labels":{"a":"b"}}`,
		`{"Name":"c2","Data":"Y29uZmln"}`,
		`{"Name":"c","Data":"Y29uZmln","Labels":{"a":"b"}}`,
		`{"Name":"n","Driver":"overlay","IPAM":{"Config":[{"Subnet":"10.9.0.0/24"}]}}`,
		`{"Name":"default","Orchestration":{"TaskHistoryRetentionLimit":-1},"Raft":{"KeepOldSnapshots":99}}`,
		`{"Role":"worker","Availability":"drain"}`,
		`{"ListenAddr":"0.0.0.0:2377","DefaultAddrPool":["10.0.0.0/8"]}`,
		`{"RemoteAddrs":["x:2377"],"JoinToken":"SWMTKN-1-x"}`,
		`{"UnlockKey":"SWMKEY-1-x"}`,
	} {
		f.Add(uint8(i), "", []byte(body))
	}
	f.Add(uint8(0), "", []byte(`{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"RestartPolicy":{"Delay":-1,"MaxAttempts":18446744073709551615}},"Mode":{"ReplicatedJob":{"MaxConcurrent":0,"TotalCompletions":99999999}}}`))
	f.Add(uint8(0), "", []byte(`{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Mounts":[{"Type":"volume","Source":"../x","Target":"/"}]},"Placement":{"Constraints":["node.labels.a=="],"Preferences":[{"Spread":{}}]},"Resources":{"Limits":{"NanoCPUs":-5}}},"EndpointSpec":{"Ports":[{"TargetPort":0,"PublishedPort":70000,"Protocol":"sctp"}]}}`))
	f.Add(uint8(1), "version=0&rollback=previous", []byte(`{}`))
	f.Add(uint8(7), "rotateWorkerToken=1&rotateManagerUnlockKey=true", []byte(`{"Name":"default","EncryptionConfig":{"AutoLockManagers":true},"CAConfig":{"NodeCertExpiry":1}}`))
	f.Add(uint8(2), "", []byte(`{"Name":"s3","Data":"","Driver":{"Name":"vault"},"Templating":{"Name":"golang"}}`))
	f.Add(uint8(6), "", []byte(`{"Name":"n2","Driver":"overlay","IPAM":{"Config":[{"Subnet":"10.9.0.0/33","Gateway":"1.1.1.1","IPRange":"::/0"}]},"Options":{"com.docker.network.driver.overlay.vxlanid_list":"99999999"}}`))
	f.Add(uint8(0), "", []byte(`{"Name":"x"`))
	f.Add(uint8(0), "", []byte(`[]`))

	tc := newTestCluster(f)
	s := New(Config{Cluster: tc})
	for _, setup := range []struct{ path, body string }{
		{"/services/create", `{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`},
		{"/secrets/create", `{"Name":"s","Data":"c2VjcmV0"}`},
		{"/configs/create", `{"Name":"c","Data":"Y29uZmln"}`},
	} {
		if w := serveOnce(s, setup.path, "", []byte(setup.body)); w.Code != http.StatusCreated {
			f.Fatalf("%s: got %d %s", setup.path, w.Code, w.Body)
		}
	}

	f.Fuzz(func(t *testing.T, route uint8, query string, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		if strings.Contains(path, "{v}") {
			v := "0"
			if !strings.Contains(query, "version=") {
				v = currentVersion(s, path)
			}
			path = strings.Replace(path, "{v}", v, 1)
		}
		before := storeState(t, tc.store)
		w := serveOnce(s, path, query, body)
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("POST %s&%s %q: got 500 %s", path, query, body, w.Body)
		}
		if w.Code >= 400 {
			var e struct{ Message string }
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Message == "" {
				t.Fatalf("POST %s&%s %q: got %d with no message: %s", path, query, body, w.Code, w.Body)
			}
			if storeState(t, tc.store) != before {
				t.Fatalf("POST %s&%s %q: refused with %d %s, but the store changed", path, query, body, w.Code, w.Body)
			}
		}
	})
}

// serveOnce answers one POST in process.
func serveOnce(s *Server, path, query string, body []byte) *httptest.ResponseRecorder {
	if query != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + query
	}
	w := httptest.NewRecorder()
	r, err := http.NewRequest("POST", "http://api.moby.localhost"+path, bytes.NewReader(body))
	if err != nil { // a query that makes no URL is no request at all
		w.Code = http.StatusBadRequest
		w.Body = bytes.NewBufferString(`{"message":"not a URL"}`)
		return w
	}
	r.Header.Set("Content-Type", "application/json")
	s.ServeHTTP(w, r)
	return w
}

// currentVersion is the version of the object an update path names.
func currentVersion(s *Server, path string) string {
	obj, _, _ := strings.Cut(path, "?")
	obj = strings.TrimSuffix(obj, "/update")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", obj, nil))
	var v struct{ Version swarm.Version }
	json.Unmarshal(w.Body.Bytes(), &v)
	return strconv.FormatUint(v.Version.Index, 10)
}
