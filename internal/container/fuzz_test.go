package container

import (
	"encoding/json"
	"testing"

	containertypes "github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// FuzzCreateRequest decodes any body of POST /containers/create and runs
// the checks the engine runs before it makes anything: defaults,
// validation, mounts and port bindings. None panics, and each refusal is
// an Invalid error (400).
func FuzzCreateRequest(f *testing.F) {
	for _, s := range []string{
		`{"Image":"busybox","Cmd":["sh"]}`,
		`{"Image":"busybox","WorkingDir":"rel","StopSignal":"SIGFOO","Healthcheck":{"Test":["CMD","true"],"Interval":-1}}`,
		`{"Image":"busybox","ExposedPorts":{"80/tcp":{}},"HostConfig":{"PublishAllPorts":true,"PortBindings":{"80/tcp":[{"HostIp":"::1","HostPort":"8000-7000"}],"99999/udp":[{}]}}}`,
		`{"Image":"busybox","Volumes":{"/data":{}},"HostConfig":{"Binds":["/:/host:rw,z","x:/data","::"],"Mounts":[{"Type":"tmpfs","Target":"/data","TmpfsOptions":{"SizeBytes":-1}}],"Tmpfs":{"/t":"size=1k"}}}`,
		`{"Image":"busybox","HostConfig":{"NanoCpus":1000000000000,"CpuShares":-1,"Memory":1,"MemorySwap":-2,"CpusetCpus":"0-99999","RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1},"ShmSize":-1}}`,
		`{"Image":"busybox","HostConfig":{"NetworkMode":"container:x","PidMode":"host","Privileged":true,"CapAdd":["ALL"],"Devices":[{"PathOnHost":"/dev/mem"}],"LogConfig":{"Type":"syslog"}}}`,
		`{}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req containertypes.CreateRequest
		if json.Unmarshal(body, &req) != nil {
			return // decodeJSON's 400
		}
		if req.HostConfig == nil {
			req.HostConfig = &containertypes.HostConfig{}
		}
		WithDefaults(req.HostConfig)
		check := func(what string, err error) {
			if err != nil && errdefs.KindOf(err) != errdefs.KindInvalid {
				t.Fatalf("%s %s: got %v of kind %v, want Invalid", what, body, err, errdefs.KindOf(err))
			}
		}
		check("Validate", Validate(req.Config, req.HostConfig, 2))
		if req.Config == nil {
			return
		}
		_, err := Mounts(req.Config, req.HostConfig)
		check("Mounts", err)
		_, err = PortRequests(req.HostConfig, req.Config.ExposedPorts)
		check("PortRequests", err)
	})
}
