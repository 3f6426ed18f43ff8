package opts

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
)

func TestParsePort(t *testing.T) {
	ingress := func(pub, target uint32, proto string) swarm.PortConfig {
		return swarm.PortConfig{PublishedPort: pub, TargetPort: target, Protocol: networkProto(proto), PublishMode: swarm.PortConfigPublishModeIngress}
	}
	tests := []struct {
		name    string
		in      string
		want    []swarm.PortConfig
		wantErr string
	}{
		{name: "target only", in: "80", want: []swarm.PortConfig{ingress(0, 80, "tcp")}},
		{name: "published:target", in: "8080:80", want: []swarm.PortConfig{ingress(8080, 80, "tcp")}},
		{name: "udp", in: "53:53/udp", want: []swarm.PortConfig{ingress(53, 53, "udp")}},
		{name: "upper-case protocol", in: "53:53/UDP", want: []swarm.PortConfig{ingress(53, 53, "udp")}},
		{name: "range", in: "8080-8081:80-81", want: []swarm.PortConfig{ingress(8080, 80, "tcp"), ingress(8081, 81, "tcp")}},
		{name: "published range to one target", in: "8080-8081:80", want: []swarm.PortConfig{ingress(8080, 80, "tcp"), ingress(8081, 80, "tcp")}},
		{name: "target range", in: "80-81", want: []swarm.PortConfig{ingress(0, 80, "tcp"), ingress(0, 81, "tcp")}},
		{name: "long syntax", in: "mode=host,target=80,published=8080,protocol=udp", want: []swarm.PortConfig{
			{PublishedPort: 8080, TargetPort: 80, Protocol: "udp", PublishMode: swarm.PortConfigPublishModeHost},
		}},
		{name: "long defaults", in: "target=80", want: []swarm.PortConfig{ingress(0, 80, "tcp")}},
		{name: "long without target", in: "published=8080", wantErr: `missing mandatory field "target"`},
		{name: "long bad key", in: "target=80,colour=red", wantErr: "invalid field key colour"},
		{name: "long bad protocol", in: "target=80,protocol=icmp", wantErr: "invalid protocol value icmp"},
		{name: "long bad mode", in: "target=80,mode=local", wantErr: "invalid publish mode value local"},
		{name: "host ip", in: "127.0.0.1:8080:80", wantErr: "hostip is not supported"},
		{name: "bad protocol", in: "80/icmp", wantErr: "invalid proto: icmp"},
		{name: "not a number", in: "web", wantErr: "invalid containerPort: web"},
		{name: "too big", in: "70000", wantErr: "invalid containerPort: 70000"},
		{name: "mismatched ranges", in: "8080-8082:80-81", wantErr: "invalid ranges specified for container and host Ports: 80-81 and 8080-8082"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePort(tt.in)
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); tt.wantErr == "" && diff != "" {
				t.Errorf("ParsePort(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseMount(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		want    mount.Mount
		wantErr string
	}{
		{name: "volume by default", in: "source=data,target=/data", want: mount.Mount{Type: mount.TypeVolume, Source: "data", Target: "/data"}},
		{name: "bind read-only", in: "type=bind,src=/srv,dst=/srv,ro", want: mount.Mount{Type: mount.TypeBind, Source: "/srv", Target: "/srv", ReadOnly: true}},
		{name: "readonly=false", in: "type=bind,source=/a,destination=/b,readonly=false", want: mount.Mount{Type: mount.TypeBind, Source: "/a", Target: "/b"}},
		{name: "relative source", in: "type=bind,source=.,target=/app", want: mount.Mount{Type: mount.TypeBind, Source: wd, Target: "/app"}},
		{name: "volume options", in: "source=db,target=/db,volume-label=tier=data,volume-driver=local,volume-opt=o=size=1g,volume-nocopy", want: mount.Mount{
			Type: mount.TypeVolume, Source: "db", Target: "/db",
			VolumeOptions: &mount.VolumeOptions{NoCopy: true, Labels: map[string]string{"tier": "data"}, DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"o": "size=1g"}}},
		}},
		{name: "bind propagation", in: "type=bind,source=/a,target=/b,bind-propagation=RSHARED", want: mount.Mount{
			Type: mount.TypeBind, Source: "/a", Target: "/b", BindOptions: &mount.BindOptions{Propagation: mount.PropagationRShared},
		}},
		{name: "tmpfs", in: "type=tmpfs,target=/tmp,tmpfs-size=64m,tmpfs-mode=1777", want: mount.Mount{
			Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1777},
		}},
		{name: "no target", in: "source=data", wantErr: "target is required"},
		{name: "empty type", in: "type=,target=/a", wantErr: "type is required"},
		{name: "bare word", in: "target=/a,rw", wantErr: "invalid field 'rw' must be a key=value pair"},
		{name: "unknown key", in: "target=/a,size=1", wantErr: "unexpected key 'size' in 'size=1'"},
		{name: "bad readonly", in: "target=/a,ro=maybe", wantErr: "invalid value for ro: maybe"},
		{name: "mixed options", in: "type=bind,source=/a,target=/a,volume-nocopy", wantErr: "cannot mix 'volume-*' options with mount type 'bind'"},
		{name: "tmpfs bad size", in: "type=tmpfs,target=/t,tmpfs-size=lots", wantErr: "invalid value for tmpfs-size: lots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMount(tt.in)
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); tt.wantErr == "" && diff != "" {
				t.Errorf("ParseMount(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParsePlacementPref(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "spread=node.labels.zone", want: "node.labels.zone"},
		{in: "spread", wantErr: `placement preference must be of the format "<strategy>=<arg>"`},
		{in: "spread=a=b", wantErr: `placement preference must be of the format "<strategy>=<arg>"`},
		{in: "pack=node.id", wantErr: "unsupported placement preference pack (only spread is supported)"},
	}
	for _, tt := range tests {
		got, err := ParsePlacementPref(tt.in)
		checkErr(t, err, tt.wantErr)
		if tt.wantErr == "" && (got.Spread == nil || got.Spread.SpreadDescriptor != tt.want) {
			t.Errorf("ParsePlacementPref(%q) = %+v, want spread over %q", tt.in, got, tt.want)
		}
	}
}

func TestParseGenericResource(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    swarm.GenericResource
		wantErr string
	}{
		{name: "discrete", in: "gpu=2", want: swarm.GenericResource{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: "gpu", Value: 2}}},
		{name: "named", in: "gpu=GPU-0a1b", want: swarm.GenericResource{NamedResourceSpec: &swarm.NamedGenericResource{Kind: "gpu", Value: "GPU-0a1b"}}},
		{name: "no value", in: "gpu", wantErr: "invalid generic resource specification: gpu"},
		{name: "empty kind", in: "=1", wantErr: "invalid generic resource specification: =1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGenericResource(tt.in)
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); tt.wantErr == "" && diff != "" {
				t.Errorf("ParseGenericResource(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseAmounts(t *testing.T) {
	cpus := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "0.5", want: 5e8},
		{in: "2", want: 2e9},
		{in: "0.000000001", want: 1},
		{in: "0.0000000001", wantErr: "value is too precise"},
		{in: "lots", wantErr: "failed to parse lots as a rational number"},
		{in: "-1", wantErr: "value must be positive"},
	}
	for _, tt := range cpus {
		got, err := ParseNanoCPUs(tt.in)
		checkErr(t, err, tt.wantErr)
		if tt.wantErr == "" && got != tt.want {
			t.Errorf("ParseNanoCPUs(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
	mems := []struct {
		in   string
		want int64
	}{
		{"64m", 64 << 20}, {"1g", 1 << 30}, {"1048576", 1 << 20}, {"512MiB", 512 << 20},
	}
	for _, tt := range mems {
		got, err := ParseMemBytes(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMemBytes(%q) = %d, %v, want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestSplitShellWords(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "/bin/sh -c", want: []string{"/bin/sh", "-c"}},
		{in: `sh -c "echo hi; sleep 1"`, want: []string{"sh", "-c", "echo hi; sleep 1"}},
		{in: `echo 'a "b" c'`, want: []string{"echo", `a "b" c`}},
		{in: `echo a\ b "x\"y" "\n"`, want: []string{"echo", "a b", `x"y`, `\n`}},
		{in: `""`, want: []string{""}},
		{in: "  ", want: nil},
		{in: `echo "open`, wantErr: true},
		{in: `echo \`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := SplitShellWords(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("SplitShellWords(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("SplitShellWords(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestEnvValidator(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "HOME" {
			return "/root", true
		}
		return "", false
	}
	v := EnvValidator(lookup)
	tests := []struct{ in, want, wantErr string }{
		{in: "A=1", want: "A=1"},
		{in: "A=", want: "A="},
		{in: "HOME", want: "HOME=/root"},
		{in: "UNSET", want: "UNSET"},
		{in: "=1", wantErr: "invalid environment variable: =1"},
	}
	for _, tt := range tests {
		got, err := v(tt.in)
		checkErr(t, err, tt.wantErr)
		if tt.wantErr == "" && got != tt.want {
			t.Errorf("EnvValidator(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("got error %v, want none", err)
	case want != "" && err == nil:
		t.Fatalf("got no error, want %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("got error %q, want %q", err, want)
	}
}
