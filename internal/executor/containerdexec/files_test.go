package containerdexec

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
)

func TestResolvConf(t *testing.T) {
	tests := []struct {
		name string
		host string
		dns  *swarm.DNSConfig
		want string
	}{
		{
			name: "host servers kept, loopback dropped",
			host: "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nsearch example.com corp\noptions edns0\n",
			want: "nameserver 10.0.0.2\nsearch example.com corp\noptions edns0\n",
		},
		{
			name: "only loopback servers gives Docker's defaults",
			host: "nameserver 127.0.0.53\noptions edns0 trust-ad\n",
			want: "nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0 trust-ad\n",
		},
		{
			name: "empty host file",
			host: "",
			want: "nameserver 8.8.8.8\nnameserver 8.8.4.4\n",
		},
		{
			name: "spec replaces what it sets",
			host: "nameserver 10.0.0.2\nsearch example.com\noptions edns0\n",
			dns:  &swarm.DNSConfig{Nameservers: []netip.Addr{netip.MustParseAddr("10.9.9.9")}, Options: []string{"ndots:2"}},
			want: "nameserver 10.9.9.9\nsearch example.com\noptions ndots:2\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(resolvConf([]byte(tt.host), tt.dns))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostsFile(t *testing.T) {
	got := string(hostsFile("abc123", netip.MustParseAddr("10.1.2.3"), []string{"10.0.0.9 db  db.local", "bad"}))
	want := "127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"ff00::0\tip6-mcastprefix\n" +
		"ff02::1\tip6-allnodes\n" +
		"ff02::2\tip6-allrouters\n" +
		"10.1.2.3\tabc123\n" +
		"10.0.0.9\tdb db.local\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
}

func TestContainerName(t *testing.T) {
	labels := map[string]string{LabelServiceName: "web"}
	tests := []struct {
		name string
		task swarm.Task
		want string
	}{
		{"replicated", swarm.Task{ID: "t1", Slot: 3, NodeID: "n1", Annotations: swarm.Annotations{Labels: labels}}, "web.3.t1"},
		{"global", swarm.Task{ID: "t1", NodeID: "n1", Annotations: swarm.Annotations{Labels: labels}}, "web.n1.t1"},
		{"set by the agent", swarm.Task{ID: "t1", Slot: 3, Annotations: swarm.Annotations{Name: "given", Labels: labels}}, "given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := containerName(&tt.task); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestContainerID(t *testing.T) {
	a, b := ContainerID("task1"), ContainerID("task1")
	if a != b || len(a) != 64 {
		t.Errorf("got %q and %q, want the same 64 hex digits", a, b)
	}
	if ContainerID("task2") == a {
		t.Error("two tasks got the same container ID")
	}
}
