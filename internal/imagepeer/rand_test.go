package imagepeer

import "math/rand/v2"

// randIntN is rand.IntN from a seeded source, for tests that need
// randomness they can repeat.
func randIntN(seed uint64) func(int) int {
	r := rand.New(rand.NewPCG(seed, seed))
	return r.IntN
}
