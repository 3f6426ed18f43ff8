package limits

import "time"

// Image fetches between nodes (internal/imagepeer, docs/IMAGES-PEER.md).
const (
	// PeerChunkSize is the most one message of a blob carries: well
	// within MaxMessageSize, big enough that a message's overhead is
	// lost in it.
	PeerChunkSize = 1 << 20
	// PeerMaxManifestSize bounds the top of an image (index or manifest)
	// a node takes from a peer, whose size only the peer vouches for;
	// what it names has sizes the digest-checked top vouches for.
	PeerMaxManifestSize = 4 << 20
	// PeerStreamWindow and PeerConnWindow are the HTTP/2 flow-control
	// windows a fetching node gives a holder's streams and connection:
	// a holder sends that much before it waits to hear the bytes were
	// read. gRPC's default starts at 64 KiB and grows by its own
	// estimate, so on a busy node, whose every reply waits for a core,
	// a holder spent its time waiting instead of sending.
	PeerStreamWindow = 8 << 20
	PeerConnWindow   = 64 << 20
	// PeerReadSize is how much of a blob a holder reads from containerd
	// at once (one Read call, which containerd answers by looking the
	// blob up again each time), sent as chunks of PeerChunkSize; and
	// PeerReadAhead how many chunks it reads ahead of what gRPC has
	// taken, so reading overlaps with sending. A blob being sent holds
	// at most PeerReadSize+PeerReadAhead*PeerChunkSize bytes.
	PeerReadSize  = 2 << 20
	PeerReadAhead = 2
	// PeerMaxServing is how many blobs a node sends at once; more
	// callers wait their turn, so 100 nodes fetching from one holder
	// share its uplink instead of thrashing it.
	PeerMaxServing = 32
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
