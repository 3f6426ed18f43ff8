package rpc_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/clusterconn/clusterconntest"
	"github.com/shoal-project/shoal/internal/rpc"
	"github.com/shoal-project/shoal/internal/rpc/rpctest"
)

func TestCodecRegistered(t *testing.T) {
	if c := encoding.GetCodecV2("json"); c == nil {
		t.Fatal(`no codec registered under "json"`)
	}
}

func TestCodecRejectsBadJSON(t *testing.T) {
	var c rpc.Codec
	data, err := c.Marshal(map[string]int{"Slot": 1})
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var n int
	if err := c.Unmarshal(data, &n); err == nil {
		t.Errorf("Unmarshal of an object into an int: got %d and no error", n)
	}
}

// The codec carries Docker API structs end to end over the cluster port,
// with mutual TLS: a unary call, a server stream, and the caller's identity.
func TestEndToEnd(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	worker := clusterconntest.NewNode(t, root, ca.WorkerRole)
	mux := clusterconntest.Listen(t, root, manager)
	all := []ca.Role{ca.ManagerRole, ca.WorkerRole}
	clusterconntest.ServeGRPC(t, mux, ca.Policy{
		rpctest.MethodEcho:   all,
		rpctest.MethodCount:  all,
		rpctest.MethodWhoami: all,
	}, func(s grpc.ServiceRegistrar) { s.RegisterService(&rpctest.ServiceDesc, rpctest.Server{}) })
	cc := clusterconntest.Dial(t, root, mux.Addr().String(), &worker)

	replicas := uint64(3)
	sent := &swarm.Service{
		ID: "svc1",
		Meta: swarm.Meta{
			Version:   swarm.Version{Index: 41},
			CreatedAt: time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC),
		},
		Spec: swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: "web", Labels: map[string]string{"tier": "front"}},
			Mode:        swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		},
	}
	got, err := rpctest.Echo(t.Context(), cc, sent)
	if err != nil {
		t.Fatalf("Echo: %v", err)
	}
	want := *sent
	want.Version.Index = 42
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("Echo reply (-want +got):\n%s", diff)
	}

	tasks, err := rpctest.Count(t.Context(), cc, 3)
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	var slots []int
	for _, task := range tasks {
		slots = append(slots, task.Slot)
	}
	if diff := cmp.Diff([]int{1, 2, 3}, slots); diff != "" {
		t.Errorf("streamed slots (-want +got):\n%s", diff)
	}

	id, err := rpctest.Whoami(t.Context(), cc)
	if err != nil {
		t.Fatalf("Whoami: %v", err)
	}
	if wantID := (ca.Identity{NodeID: worker.ID, Role: ca.WorkerRole, ClusterID: "test-cluster"}); *id != wantID {
		t.Errorf("got caller identity %+v, want %+v", *id, wantID)
	}
}

// Both ends take a message of MaxMessageSize and refuse one a byte
// larger, whatever gRPC's own default.
func TestMessageSizeLimit(t *testing.T) {
	root := clusterconntest.NewRoot(t)
	manager := clusterconntest.NewNode(t, root, ca.ManagerRole)
	worker := clusterconntest.NewNode(t, root, ca.WorkerRole)
	mux := clusterconntest.Listen(t, root, manager)
	clusterconntest.ServeGRPC(t, mux, ca.Policy{rpctest.MethodEcho: {ca.WorkerRole}},
		func(s grpc.ServiceRegistrar) { s.RegisterService(&rpctest.ServiceDesc, rpctest.Server{}) })
	cc := clusterconntest.Dial(t, root, mux.Addr().String(), &worker)

	// sized returns a service whose encoding is n bytes; Echo's reply
	// is as long (its version goes from 1 to 2).
	sized := func(n int) *swarm.Service {
		s := &swarm.Service{Meta: swarm.Meta{Version: swarm.Version{Index: 1}}}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s.ID = strings.Repeat("x", n-len(b))
		return s
	}
	tests := []struct {
		name     string
		size     int
		wantCode codes.Code
	}{
		{"at the limit", rpc.MaxMessageSize, codes.OK},
		{"a byte past it", rpc.MaxMessageSize + 1, codes.ResourceExhausted},
		{"past gRPC's default of 4 MiB", 4<<20 + 1, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent := sized(tt.size)
			if b, _ := json.Marshal(sent); len(b) != tt.size {
				t.Fatalf("the message is %d bytes, want %d", len(b), tt.size)
			}
			got, err := rpctest.Echo(t.Context(), cc, sent)
			if code := status.Code(err); code != tt.wantCode {
				t.Fatalf("got code %v (%v), want %v", code, err, tt.wantCode)
			}
			if err == nil && got.ID != sent.ID {
				t.Errorf("got back an ID of %d bytes, want %d", len(got.ID), len(sent.ID))
			}
		})
	}
}

func TestCodecSendsRawMessagesAsTheyAre(t *testing.T) {
	var c rpc.Codec
	raw := json.RawMessage(`{"ID":  "as sent"}`)
	data, err := c.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(data.Materialize()); got != string(raw) {
		t.Errorf("got %q, want %q", got, raw)
	}
}
