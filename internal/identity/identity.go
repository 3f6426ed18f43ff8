// Package identity makes the random IDs that name cluster objects, in the
// same forms Docker uses.
package identity

import (
	"crypto/rand"
	"encoding/hex"
	"math/big"
)

// idLen is the length of swarm object IDs: 25 base-36 characters hold a
// 128-bit random number, as in SwarmKit.
const idLen = 25

var maxID = new(big.Int).Lsh(big.NewInt(1), 128)

// NewID returns a new 25-character lowercase base-36 ID for a node,
// service, task, secret, config or network.
func NewID() string {
	n, err := rand.Int(rand.Reader, maxID)
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	s := n.Text(36)
	for len(s) < idLen {
		s = "0" + s
	}
	return s
}

// NewContainerID returns a 64-character hex ID as Docker uses for containers
// and execs.
func NewContainerID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
