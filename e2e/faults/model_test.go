package faults

import (
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// call is a hand-made operation: client, [call, ret] in ms (ret -1: no
// answer), input, output.
type call struct {
	client    int
	call, ret int64
	in        Input
	out       Output
}

func history(calls ...call) []porcupine.Operation {
	var h []porcupine.Operation
	for _, c := range calls {
		ret := c.ret
		if ret < 0 {
			ret = math.MaxInt64 / 2
		}
		h = append(h, porcupine.Operation{ClientId: c.client, Call: c.call, Return: ret, Input: c.in, Output: c.out})
	}
	return h
}

func create(k string, v int) Input { return Input{Op: OpCreate, Key: k, Value: v} }
func update(k string, v int, from uint64) Input {
	return Input{Op: OpUpdate, Key: k, Value: v, From: from}
}
func remove(k string) Input  { return Input{Op: OpRemove, Key: k} }
func read(k string) Input    { return Input{Op: OpRead, Key: k} }
func lenient(k string) Input { return Input{Op: OpRead, Key: k, Lenient: true} }
func found(v int, ver uint64) Output {
	return Output{Outcome: OK, Value: v, Version: ver, Replicas: ReplicasOf(v)}
}

var (
	ok      = Output{Outcome: OK}
	stale   = Output{Outcome: Stale, Status: 409}
	absent  = Output{Outcome: NotFound, Status: 404}
	taken   = Output{Outcome: Exists, Status: 409}
	unknown = Output{Outcome: Unknown}
)

func TestModel(t *testing.T) {
	tests := []struct {
		name  string
		calls []call
		want  bool
	}{
		{"create, read, update, read, remove", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{0, 21, 30, update("a", 2, 10), ok},
			{0, 31, 40, read("a"), found(2, 12)},
			{0, 41, 50, remove("a"), ok},
			{0, 51, 60, read("a"), absent},
		}, true},
		{"a second update from the same version is refused", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{1, 21, 30, update("a", 2, 10), ok},
			{0, 31, 40, update("a", 3, 10), stale},
		}, true},
		{"lost update: a second update from the same version is accepted", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{1, 21, 30, update("a", 2, 10), ok},
			{0, 31, 40, update("a", 3, 10), ok},
		}, false},
		{"concurrent updates from one version: one wins", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{1, 21, 40, update("a", 2, 10), ok},
			{0, 22, 41, update("a", 3, 10), stale},
			{2, 50, 60, read("a"), found(2, 14)},
		}, true},
		{"an update refused as stale applied anyway", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{0, 21, 30, update("a", 2, 10), stale},
			{0, 31, 40, read("a"), found(2, 12)},
		}, false},
		{"an update from the current version refused", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{0, 21, 30, update("a", 2, 10), stale},
		}, false},
		{"an acknowledged create lost", []call{
			{0, 0, 10, create("a", 1), ok},
			{1, 20, 30, read("a"), absent},
		}, false},
		{"a create of a taken name succeeds", []call{
			{0, 0, 10, create("a", 1), ok},
			{1, 20, 30, create("a", 2), ok},
		}, false},
		{"a create of a taken name is refused", []call{
			{0, 0, 10, create("a", 1), ok},
			{1, 20, 30, create("a", 2), taken},
			{1, 31, 40, read("a"), found(1, 10)},
		}, true},
		{"half a write: the value of one write with another's replicas", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), Output{Outcome: OK, Value: 1, Version: 10, Replicas: 1}},
		}, false},
		{"the version goes back", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{1, 21, 30, read("a"), found(1, 8)},
		}, false},
		{"a write leaves the version where it was", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{0, 21, 30, update("a", 2, 10), ok},
			{0, 31, 40, read("a"), found(2, 10)},
		}, false},
		{"an unanswered create may have applied", []call{
			{0, 0, -1, create("a", 1), unknown},
			{1, 20, 30, read("a"), found(1, 10)},
		}, true},
		{"an unanswered create may not have applied", []call{
			{0, 0, -1, create("a", 1), unknown},
			{1, 20, 30, read("a"), absent},
			{1, 31, 40, create("a", 2), ok},
		}, true},
		{"an unanswered update applies late", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{0, 21, -1, update("a", 2, 10), unknown},
			{1, 30, 40, read("a"), found(1, 10)},
			{1, 50, 60, read("a"), found(2, 15)},
		}, true},
		{"an unanswered update from a stale version cannot apply", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{1, 21, 30, update("a", 2, 10), ok},
			{0, 31, -1, update("a", 3, 10), unknown},
			{1, 50, 60, read("a"), found(3, 15)},
		}, false},
		{"recreated: the old version is stale", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{1, 21, 30, remove("a"), ok},
			{1, 31, 40, create("a", 3), ok},
			{0, 41, 50, update("a", 4, 10), ok},
		}, false},
		{"services are independent", []call{
			{0, 0, 10, create("a", 1), ok},
			{1, 0, 10, create("b", 3), ok},
			{0, 11, 20, read("b"), found(3, 11)},
			{1, 11, 20, read("a"), found(1, 10)},
		}, true},
		{"a stale read fails a strict read", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{0, 21, 30, update("a", 2, 10), ok},
			{1, 31, 40, read("a"), found(1, 10)},
		}, false},
		{"a stale read passes a lenient read", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{0, 21, 30, update("a", 2, 10), ok},
			{1, 31, 40, lenient("a"), found(1, 10)},
		}, true},
		{"a lenient read still never sees a refused write", []call{
			{0, 0, 10, create("a", 1), ok},
			{0, 11, 20, read("a"), found(1, 10)},
			{0, 21, 30, update("a", 2, 10), stale},
			{1, 31, 40, lenient("a"), found(2, 12)},
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := porcupine.CheckOperationsTimeout(Model(), history(tt.calls...), 10*time.Second)
			if got := res == porcupine.Ok; got != tt.want {
				t.Fatalf("linearizable: got %v (%s), want %v", got, res, tt.want)
			}
		})
	}
}
