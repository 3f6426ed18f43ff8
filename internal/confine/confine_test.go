package confine

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestParseSecurityOpt(t *testing.T) {
	profile := `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`
	tests := []struct {
		name string
		opts []string
		want Options
		bad  bool
	}{
		{name: "none", want: Options{Seccomp: SeccompDefault}},
		{name: "no-new-privileges alone, as the docker CLI sends it", opts: []string{"no-new-privileges"}, want: Options{NoNewPrivileges: true, Seccomp: SeccompDefault}},
		{name: "no-new-privileges=true", opts: []string{"no-new-privileges=true"}, want: Options{NoNewPrivileges: true, Seccomp: SeccompDefault}},
		{name: "legacy colon", opts: []string{"no-new-privileges:true"}, want: Options{NoNewPrivileges: true, Seccomp: SeccompDefault}},
		{name: "no-new-privileges=false", opts: []string{"no-new-privileges=false"}, want: Options{Seccomp: SeccompDefault}},
		{name: "seccomp unconfined", opts: []string{"seccomp=unconfined"}, want: Options{Seccomp: SeccompUnconfined}},
		{name: "seccomp builtin", opts: []string{"seccomp=builtin"}, want: Options{Seccomp: SeccompDefault}},
		{name: "systempaths unconfined", opts: []string{"systempaths=unconfined"}, want: Options{Seccomp: SeccompDefault, UnmaskSystemPaths: true}},
		{name: "apparmor and label off", opts: []string{"apparmor=unconfined", "label=disable"}, want: Options{Seccomp: SeccompDefault}},
		{name: "bad no-new-privileges value", opts: []string{"no-new-privileges=maybe"}, bad: true},
		{name: "apparmor profile", opts: []string{"apparmor=docker-default"}, bad: true},
		{name: "selinux label", opts: []string{"label=type:svirt_apache_t"}, bad: true},
		{name: "unknown key", opts: []string{"fly=yes"}, bad: true},
		{name: "no value", opts: []string{"seccomp"}, bad: true},
		{name: "seccomp not JSON", opts: []string{"seccomp=/etc/profile.json"}, bad: true},
		{name: "systempaths other", opts: []string{"systempaths=open"}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSecurityOpt(tt.opts)
			if tt.bad {
				if !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("got %+v, %v; want an invalid-argument error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("seccomp profile", func(t *testing.T) {
		got, err := ParseSecurityOpt([]string{"seccomp=" + profile})
		if err != nil {
			t.Fatal(err)
		}
		if got.Seccomp != SeccompCustom || got.Profile == nil || got.Profile.DefaultAction != specs.ActErrno {
			t.Errorf("got %+v, want the custom profile", got)
		}
	})
}

func TestFormatSecurityOptRoundTrips(t *testing.T) {
	profile := []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}`)
	for _, tt := range []struct {
		nnp  bool
		mode SeccompMode
	}{{false, ""}, {true, SeccompDefault}, {false, SeccompUnconfined}, {true, SeccompCustom}} {
		var p []byte
		if tt.mode == SeccompCustom {
			p = profile
		}
		o, err := ParseSecurityOpt(FormatSecurityOpt(tt.nnp, tt.mode, p))
		if err != nil {
			t.Fatal(err)
		}
		want := tt.mode
		if want == "" {
			want = SeccompDefault
		}
		if o.NoNewPrivileges != tt.nnp || o.Seccomp != want {
			t.Errorf("no-new-privileges %v, seccomp %q: parsed back as %+v", tt.nnp, tt.mode, o)
		}
	}
}

func TestCheckSeccomp(t *testing.T) {
	good := []byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}`)
	for _, tt := range []struct {
		mode    SeccompMode
		profile []byte
		ok      bool
	}{
		{"", nil, true},
		{SeccompDefault, nil, true},
		{SeccompUnconfined, nil, true},
		{SeccompCustom, good, true},
		{SeccompCustom, nil, false},
		{SeccompCustom, []byte(`{`), false},
		{SeccompDefault, good, false},
		{"strict", nil, false},
	} {
		err := CheckSeccomp(tt.mode, tt.profile)
		if (err == nil) != tt.ok || (err != nil && !errdefs.Is(err, errdefs.KindInvalid)) {
			t.Errorf("mode %q, profile %q: got %v, want ok %v", tt.mode, tt.profile, err, tt.ok)
		}
	}
}

func TestCapabilities(t *testing.T) {
	known := []string{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
		"CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
		"CAP_SYS_ADMIN", "CAP_SYS_CHROOT", "CAP_SYS_TIME"}
	defaults := slices.Sorted(slices.Values(DefaultCapabilities))
	without := func(list []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(list), func(c string) bool { return slices.Contains(drop, c) })
	}
	with := func(list []string, add ...string) []string {
		return slices.Sorted(slices.Values(append(slices.Clone(list), add...)))
	}
	tests := []struct {
		name       string
		privileged bool
		add, drop  []string
		want       []string
	}{
		{name: "Docker's default set", want: defaults},
		{name: "add without prefix, any case", add: []string{"sys_time"}, want: with(defaults, "CAP_SYS_TIME")},
		{name: "drop", drop: []string{"CHOWN", "CAP_KILL"}, want: without(defaults, "CAP_CHOWN", "CAP_KILL")},
		{name: "adding wins over dropping", add: []string{"NET_ADMIN", "KILL"}, drop: []string{"KILL"}, want: with(defaults, "CAP_NET_ADMIN")},
		{name: "drop all, add one", add: []string{"KILL"}, drop: []string{"ALL"}, want: []string{"CAP_KILL"}},
		{name: "drop all", drop: []string{"all"}, want: nil},
		{name: "add all, drop one", add: []string{"ALL"}, drop: []string{"SYS_ADMIN"}, want: without(known, "CAP_SYS_ADMIN")},
		{name: "add all wins over drop all", add: []string{"ALL"}, drop: []string{"ALL"}, want: known},
		{name: "privileged ignores drops", privileged: true, drop: []string{"ALL"}, want: known},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Capabilities(known, tt.privileged, tt.add, tt.drop)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("capabilities (-want +got):\n%s", diff)
			}
		})
	}
}
