package limits

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func replicated(n uint64) swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
	}
}

func job(total, concurrent uint64) swarm.ServiceSpec {
	s := replicated(0)
	s.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{TotalCompletions: &total, MaxConcurrent: &concurrent}}
	return s
}

// withEnv returns a service of n replicas whose TaskTemplate encodes to
// exactly size bytes.
func withEnv(t *testing.T, n uint64, size int) swarm.ServiceSpec {
	t.Helper()
	s := replicated(n)
	s.TaskTemplate.ContainerSpec.Env = []string{""}
	base, err := EncodedSize(s.TaskTemplate)
	if err != nil {
		t.Fatal(err)
	}
	s.TaskTemplate.ContainerSpec.Env[0] = strings.Repeat("x", size-base)
	return s
}

func labels(n, keySize, valueSize int) map[string]string {
	m := map[string]string{}
	for i := range n {
		k := strconv.Itoa(i)
		k += strings.Repeat("k", max(0, keySize-len(k)))
		m[k] = strings.Repeat("v", valueSize)
	}
	return m
}

func TestService(t *testing.T) {
	// The TaskTemplate size at which DefaultMaxReplicas tasks fill the
	// footprint exactly.
	fullSize := int(MaxServiceFootprint/(DefaultMaxReplicas*(DefaultTaskHistory+1)) - TaskOverhead)
	attempts := func(n uint64) swarm.ServiceSpec {
		s := replicated(10)
		s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{MaxAttempts: &n}
		return s
	}
	bigPlacement := replicated(1)
	bigPlacement.TaskTemplate.Placement = &swarm.Placement{MaxReplicas: DefaultMaxReplicas + 1}
	atPlacement := replicated(1)
	atPlacement.TaskTemplate.Placement = &swarm.Placement{MaxReplicas: DefaultMaxReplicas}
	manyLabels := replicated(1)
	manyLabels.Labels = labels(MaxLabels+1, 1, 0)
	containerLabels := replicated(1)
	containerLabels.TaskTemplate.ContainerSpec.Labels = labels(1, 1, MaxLabelValueSize+1)
	global := replicated(0)
	global.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}

	for _, tc := range []struct {
		name   string
		spec   swarm.ServiceSpec
		limits Limits
		want   string // a part of the error; "" for none
	}{
		{"replicas at the limit", replicated(DefaultMaxReplicas), Default(), ""},
		{"replicas past the limit", replicated(DefaultMaxReplicas + 1), Default(), "Mode.Replicated.Replicas: 10001 is more than the cluster's limit of 10000"},
		{"replicas of 2^63", replicated(1 << 63), Default(), "Mode.Replicated.Replicas: 9223372036854775808 is more than the cluster's limit of 10000 (swarm label com.shoal.limits.max-replicas)"},
		{"replicas under a lower limit", replicated(6), Limits{MaxReplicas: 5, TaskHistory: 5}, "limit of 5"},
		{"replicas under a higher limit", replicated(20_000), Limits{MaxReplicas: 20_000, TaskHistory: 5}, ""},
		{"replicas at the ceiling", replicated(CeilingMaxReplicas), Limits{MaxReplicas: CeilingMaxReplicas, TaskHistory: 5}, "make 6162 MiB"},
		{"global", global, Default(), ""},
		{"job at the limit", job(DefaultMaxReplicas, DefaultMaxReplicas), Default(), ""},
		{"job completions past the limit", job(DefaultMaxReplicas+1, 1), Default(), "Mode.ReplicatedJob.TotalCompletions: 10001"},
		{"job concurrency past the limit", job(1, DefaultMaxReplicas+1), Default(), "Mode.ReplicatedJob.MaxConcurrent: 10001"},
		{"max replicas per node at the limit", atPlacement, Default(), ""},
		{"max replicas per node past the limit", bigPlacement, Default(), "TaskTemplate.Placement.MaxReplicas: 10001"},
		{"footprint at the limit", withEnv(t, DefaultMaxReplicas, fullSize), Default(), ""},
		{"footprint past the limit", withEnv(t, DefaultMaxReplicas, fullSize+1), Default(), "the limit is 256 MiB: lower the count to at most 9999"},
		{"footprint with a longer history", withEnv(t, DefaultMaxReplicas, fullSize), Limits{MaxReplicas: DefaultMaxReplicas, TaskHistory: 6}, "10000 slots × 7 tasks per slot"},
		{"largest spec, few replicas", withEnv(t, 21, MaxObjectSize-200), Default(), ""},
		{"largest spec, many replicas", withEnv(t, 22, MaxObjectSize-200), Default(), "lower the count to at most 21"},
		{"many restart attempts", attempts(100_000), Default(), "10 slots × 100002 tasks per slot"},
		{"restart attempts of 2^64-1", attempts(1<<64 - 1), Default(), "10 slots × 1000002 tasks per slot"},
		{"some restart attempts", attempts(1000), Default(), ""},
		{"spec past the size limit", withEnv(t, 1, MaxObjectSize), Default(), "service spec is too large"},
		{"too many labels", manyLabels, Default(), "Labels: 1001 labels, the limit is 1000"},
		{"container label value too long", containerLabels, Default(), "TaskTemplate.ContainerSpec.Labels[\"0\"]: a value of 65537 bytes, the limit is 65536 (64 KiB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, Service(tc.spec, tc.limits), tc.want)
		})
	}
}

func TestLabels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"none", nil, ""},
		{"as many as allowed", labels(MaxLabels, 1, 1), ""},
		{"one too many", labels(MaxLabels+1, 1, 1), "Labels: 1001 labels, the limit is 1000"},
		{"key at the limit", labels(1, MaxLabelKeySize, 0), ""},
		{"key past the limit", labels(1, MaxLabelKeySize+1, 0), "a key of 1025 bytes"},
		{"value at the limit", labels(1, 1, MaxLabelValueSize), ""},
		{"value past the limit", labels(1, 1, MaxLabelValueSize+1), "a value of 65537 bytes, the limit is 65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, Labels("Labels", tc.labels), tc.want)
		})
	}
}

func TestData(t *testing.T) {
	data := func(n int) []byte { return []byte(strings.Repeat("d", n)) }
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"secret empty", Secret(swarm.SecretSpec{}), "secret data must be larger than 0 and less than 512000 bytes"},
		{"secret at the limit", Secret(swarm.SecretSpec{Data: data(MaxSecretData - 1)}), ""},
		{"secret past the limit", Secret(swarm.SecretSpec{Data: data(MaxSecretData)}), "secret data must be larger than 0 and less than 512000 bytes"},
		{"config of 600 KB", Config(swarm.ConfigSpec{Data: data(600_000)}), ""},
		{"config at the limit, labels full", Config(swarm.ConfigSpec{Data: data(MaxConfigData - 1), Annotations: swarm.Annotations{Labels: labels(9, 1, MaxLabelValueSize)}}), ""},
		{"config past the limit", Config(swarm.ConfigSpec{Data: data(MaxConfigData)}), "config data must be larger than 0 and less than 1024000 bytes"},
		{"config labels past the size", Config(swarm.ConfigSpec{Data: data(MaxConfigData - 1), Annotations: swarm.Annotations{Labels: labels(20, 1, MaxLabelValueSize)}}), "config spec is too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.err, tc.want)
		})
	}
}

func TestFromSwarm(t *testing.T) {
	spec := func(v string) swarm.Spec {
		return swarm.Spec{Annotations: swarm.Annotations{Labels: map[string]string{MaxReplicasLabel: v}}}
	}
	for _, tc := range []struct {
		name string
		spec swarm.Spec
		max  uint64
		want string
	}{
		{"no label", swarm.Spec{}, DefaultMaxReplicas, ""},
		{"lower", spec("5"), 5, ""},
		{"at the ceiling", spec(strconv.FormatUint(CeilingMaxReplicas, 10)), CeilingMaxReplicas, ""},
		{"past the ceiling", spec(strconv.FormatUint(CeilingMaxReplicas+1, 10)), DefaultMaxReplicas, "must be a whole number from 1 to 1000000"},
		{"zero", spec("0"), DefaultMaxReplicas, "must be a whole number"},
		{"not a number", spec("many"), DefaultMaxReplicas, `Labels["com.shoal.limits.max-replicas"]: "many"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := FromSwarm(tc.spec)
			checkErr(t, err, tc.want)
			if l.MaxReplicas != tc.max {
				t.Errorf("got MaxReplicas %d, want %d", l.MaxReplicas, tc.max)
			}
			checkErr(t, Swarm(tc.spec), tc.want)
		})
	}
}

func TestObjects(t *testing.T) {
	big := labels(40, 1, MaxLabelValueSize) // 2.5 MiB of labels, each within its limits
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"node", Node(swarm.NodeSpec{Annotations: swarm.Annotations{Labels: labels(MaxLabels, 1, 1)}}), ""},
		{"node too large", Node(swarm.NodeSpec{Annotations: swarm.Annotations{Labels: big}}), "node spec is too large: 2621"},
		{"swarm too large", Swarm(swarm.Spec{Annotations: swarm.Annotations{Labels: big}}), "swarm spec is too large"},
		{"network too large", Network(swarm.NetworkSpec{Annotations: swarm.Annotations{Labels: big}}), "network spec is too large"},
		{"network options", Network(swarm.NetworkSpec{DriverConfiguration: &swarm.Driver{Options: labels(MaxLabels+1, 1, 0)}}), "DriverConfiguration.Options: 1001 labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.err, tc.want)
		})
	}
}

// checkErr fails unless err is nil and want empty, or err is Invalid and
// contains want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("got error %q, want none", err)
	case want != "" && err == nil:
		t.Fatalf("got no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("got error %q, want one containing %q", err, want)
	case err != nil && !errdefs.Is(err, errdefs.KindInvalid):
		t.Fatalf("got error kind %v, want Invalid", errdefs.KindOf(err))
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    time.Duration
		want string
	}{
		{"zero", 0, ""},
		{"at the limit", MaxDuration, ""},
		{"past the limit", MaxDuration + 1, "UpdateConfig.Delay: 8760h0m0.000000001s is out of range (0 to 8760h0m0s)"},
		{"negative", -1, "is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, Duration("UpdateConfig.Delay", tc.d), tc.want)
		})
	}
}
