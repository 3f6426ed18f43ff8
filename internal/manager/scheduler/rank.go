package scheduler

import (
	"cmp"
	"container/heap"
)

// branch is a group of candidate nodes sharing the values of the spread
// preferences down to its level; a leaf holds the nodes themselves. Tasks
// go to the child with the fewest tasks of the service, so that they
// divide evenly over label values level by level, and within a leaf to the
// best-ranked node. Keys only grow as tasks are placed, so the heaps are
// only ever fixed at the top.
type branch struct {
	value string
	count int // tasks of the service on the nodes below
	kids  *kidHeap
	nodes *nodeHeap
}

// place finds the best node below b that passes the dynamic filters,
// places a task there and returns the node, or nil if none can take it.
// Nodes that fail are dropped: within a pass they only fill up.
func (b *branch) place(p *placer) *nodeInfo {
	if b.nodes != nil {
		for b.nodes.Len() > 0 {
			n := b.nodes.items[0]
			if !p.fits(n) {
				heap.Pop(b.nodes)
				continue
			}
			p.take(n)
			heap.Fix(b.nodes, 0)
			b.count++
			return n
		}
		return nil
	}
	for b.kids.Len() > 0 {
		if n := b.kids.items[0].place(p); n != nil {
			heap.Fix(b.kids, 0)
			b.count++
			return n
		}
		heap.Pop(b.kids)
	}
	return nil
}

// newTree builds the branches of the candidate nodes for a request.
func newTree(r *request, nodes []*nodeInfo) *branch {
	return grow(r, nodes, 0, "")
}

func grow(r *request, nodes []*nodeInfo, level int, value string) *branch {
	b := &branch{value: value}
	if level == len(r.spread) {
		b.nodes = &nodeHeap{service: r.serviceID, items: make([]*nodeInfo, len(nodes))}
		copy(b.nodes.items, nodes)
		for _, n := range nodes {
			b.count += n.byService[r.serviceID]
		}
		heap.Init(b.nodes)
		return b
	}
	groups := map[string][]*nodeInfo{}
	var values []string
	for _, n := range nodes {
		v := n.spreadValue(r.spread[level])
		if _, ok := groups[v]; !ok {
			values = append(values, v)
		}
		groups[v] = append(groups[v], n)
	}
	b.kids = &kidHeap{}
	for _, v := range values {
		k := grow(r, groups[v], level+1, v)
		b.count += k.count
		b.kids.items = append(b.kids.items, k)
	}
	heap.Init(b.kids)
	return b
}

// kidHeap orders branches by the fewest tasks of the service, then by
// value.
type kidHeap struct{ items []*branch }

func (h *kidHeap) Len() int { return len(h.items) }
func (h *kidHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return cmp.Or(cmp.Compare(a.count, b.count), cmp.Compare(a.value, b.value)) < 0
}
func (h *kidHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *kidHeap) Push(x any)    { h.items = append(h.items, x.(*branch)) }
func (h *kidHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// nodeHeap ranks nodes for a service: nodes where it failed recently last,
// then the fewest tasks of the service, the fewest tasks overall, and the
// node ID for a stable order.
type nodeHeap struct {
	service string
	items   []*nodeInfo
}

func (h *nodeHeap) Len() int { return len(h.items) }
func (h *nodeHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return cmp.Or(
		compareBool(a.failed[h.service], b.failed[h.service]),
		cmp.Compare(a.byService[h.service], b.byService[h.service]),
		cmp.Compare(a.tasks, b.tasks),
		cmp.Compare(a.ID, b.ID),
	) < 0
}
func (h *nodeHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *nodeHeap) Push(x any)    { h.items = append(h.items, x.(*nodeInfo)) }
func (h *nodeHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
