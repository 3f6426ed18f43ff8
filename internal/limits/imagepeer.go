package limits

import "time"

// Image fetches between nodes (internal/imagepeer, docs/IMAGES-PEER.md).
const (
	// PeerChunkSize is how much of a blob a holder reads from its
	// content store and sends at once: one write to the socket per MiB
	// (clusterconn.BlobConn), where TLS alone makes one per 16 KiB. A
	// blob being sent holds about twice that (the bytes read, and their
	// TLS records).
	PeerChunkSize = 1 << 20
	// PeerMaxManifestSize bounds the top of an image (index or manifest)
	// a node takes from a peer, whose size only the peer vouches for;
	// what it names has sizes the digest-checked top vouches for.
	PeerMaxManifestSize = 4 << 20
	// PeerIdleTimeout is how long a blob connection may go without a
	// byte moving, either way: a fetching node that stopped reading
	// gives its serving slot back, and one whose holder stalled tries
	// the next holder.
	PeerIdleTimeout = 30 * time.Second
	// PeerMaxServing is how many blobs a node sends at once, so that
	// 100 nodes fetching from one holder do not thrash its uplink. A
	// caller that finds every slot taken is refused as busy at once and
	// asks the managers for the blob's other holders (nodes that fetched
	// the image meanwhile); when all are busy, again after
	// PeerBusyBackoff, doubled each round up to PeerCheckPeriod (by then
	// new holders have announced), jittered by ±50% so a burst does not
	// come back at once.
	PeerMaxServing  = 32
	PeerBusyBackoff = 250 * time.Millisecond
	// PeerMaxHeld is the most images a node announces; one that holds
	// more announces the first ones (by name) and fetches the rest from a
	// registry.
	PeerMaxHeld = 10_000
	// PeerAnnouncePeriod is how often a node tells the managers what it
	// holds when nothing changed; a change is announced at the next
	// check (PeerCheckPeriod). An announcement is forgotten after
	// 3 periods, so a node gone is no longer offered.
	PeerAnnouncePeriod = 30 * time.Second
	PeerCheckPeriod    = 2 * time.Second
	// PeerMaxHolders is how many holders Holders returns (chosen at
	// random among them), and PeerMaxTries how many a node tries before
	// the registry.
	PeerMaxHolders = 32
	PeerMaxTries   = 4
)
