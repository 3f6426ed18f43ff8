package logline

import (
	"bytes"
	"testing"
)

// FuzzParse parses any line of a service logs stream as the daemon may send
// it, with and without timestamps, then formats it. No panic; a parsed
// line names its task and keeps the message as the end of the line, and
// its formatted form ends with that message.
func FuzzParse(f *testing.F) {
	f.Add([]byte("com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1 hello\n"), false, 2, 3)
	f.Add([]byte("2025-03-01T12:00:00.000000000Z com.docker.swarm.node.id=n%201,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t,env=a%3Db x"), true, 10, 0)
	f.Add([]byte("com.docker.swarm.node.id=%zz hello"), false, -5, -1)
	f.Add([]byte("=x,,a= m"), false, 0, 1<<20)
	f.Add([]byte(""), true, 0, 0)
	f.Fuzz(func(t *testing.T, buf []byte, timestamps bool, slot, padding int) {
		l, err := Parse(buf, timestamps)
		if err != nil {
			return
		}
		if !bytes.HasSuffix(buf, l.Message) {
			t.Fatalf("Parse(%q): message %q is not the end of the line", buf, l.Message)
		}
		padding %= 1 << 10
		p := Prefix(Task{ServiceName: l.Context.ServiceID, Slot: slot, TaskID: l.Context.TaskID, NodeName: l.Context.NodeID}, PrefixOptions{Padding: padding})
		if out := Format(l, p, true); !bytes.HasSuffix(out, l.Message) {
			t.Fatalf("Format of %q: %q does not end with the message", buf, out)
		}
	})
}
