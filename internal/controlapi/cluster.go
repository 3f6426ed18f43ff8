package controlapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"math"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/ca"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/externalca"
	"github.com/shoal-project/shoal/internal/limits"
	"github.com/shoal-project/shoal/internal/rootca"
	"github.com/shoal-project/shoal/internal/store"
)

var errNoSwarm = errdefs.Unavailable("This node is not part of a swarm")

// InspectSwarm returns the swarm with its join tokens.
func (a *API) InspectSwarm(ctx context.Context) (swarm.Swarm, error) {
	var c *store.Cluster
	a.store.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
	if c == nil {
		return swarm.Swarm{}, errNoSwarm
	}
	return c.Swarm, nil
}

// Rotation says which secrets a swarm update replaces.
type Rotation struct {
	WorkerToken, ManagerToken, ManagerUnlockKey bool
}

// minCertExpiry is SwarmKit's lower bound on node certificate lifetime.
const minCertExpiry = time.Hour

// validateSwarmSpec checks a merged cluster spec as SwarmKit does, and
// refuses what Shoal does not do rather than ignore it.
func validateSwarmSpec(cur, s swarm.Spec) error {
	if err := ValidateSwarmName(s.Name); err != nil {
		return err
	}
	if s.CAConfig.NodeCertExpiry != 0 && s.CAConfig.NodeCertExpiry < minCertExpiry {
		return invalidArgument("minimum certificate expiry time is: %s", minCertExpiry)
	}
	if s.Dispatcher.HeartbeatPeriod < 0 {
		return invalidArgument("heartbeat time period cannot be a negative duration")
	}
	if err := ValidateSwarmNumbers(s); err != nil {
		return err
	}
	if err := externalca.Validate(s.CAConfig.ExternalCAs); err != nil {
		return err
	}
	if s.CAConfig.SigningCAKey != "" && s.CAConfig.SigningCACert == "" {
		return invalidArgument("CAConfig.SigningCAKey: a root CA key was given without its certificate (SigningCACert)")
	}
	if s.CAConfig.SigningCACert != "" && s.CAConfig.SigningCAKey == "" {
		return invalidArgument("CAConfig.SigningCACert: a root CA certificate was given without its key (SigningCAKey); the swarm must hold the key to sign node certificates")
	}
	return nil
}

// ValidateSwarmName refuses a swarm spec named other than "default", with
// dockerd's message: a swarm is always named so, at init and ever after.
func ValidateSwarmName(name string) error {
	if name != "default" {
		return errdefs.Invalid(`swarm spec must be named "default"`)
	}
	return nil
}

// ValidateSwarmNumbers refuses numbers of a swarm spec that Shoal cannot
// serve, and labels or a size past the limits (package limits): swarm init
// and update both ask it.
func ValidateSwarmNumbers(s swarm.Spec) error {
	if err := limits.Duration("Dispatcher.HeartbeatPeriod", s.Dispatcher.HeartbeatPeriod); err != nil {
		return err
	}
	if l := s.Orchestration.TaskHistoryRetentionLimit; l != nil {
		if *l < 0 {
			return errdefs.Invalid("Orchestration.TaskHistoryRetentionLimit cannot be negative, got %d", *l)
		}
		if uint64(*l) > limits.MaxTaskHistory {
			return errdefs.Invalid("Orchestration.TaskHistoryRetentionLimit: %d is more than the limit of %d", *l, limits.MaxTaskHistory)
		}
	}
	for _, tick := range []struct {
		field string
		v     int
	}{{"Raft.ElectionTick", s.Raft.ElectionTick}, {"Raft.HeartbeatTick", s.Raft.HeartbeatTick}} {
		if tick.v < 0 || tick.v > math.MaxUint32 {
			return errdefs.Invalid("%s: %d is out of range (0 to %d)", tick.field, tick.v, uint32(math.MaxUint32))
		}
	}
	// Shoal's raft runs on fixed timing: SwarmKit's default ticks
	// describe it (a tick is 50 ms), and others are refused rather than
	// stored and ignored.
	if t := s.Raft.ElectionTick; t != 0 && t != RaftElectionTick {
		return errdefs.Invalid("Raft.ElectionTick: Shoal's raft starts an election after %d ticks (500ms) without a leader, which cannot be changed; got %d", RaftElectionTick, t)
	}
	if t := s.Raft.HeartbeatTick; t != 0 && t != RaftHeartbeatTick {
		return errdefs.Invalid("Raft.HeartbeatTick: Shoal's raft leader sends a heartbeat every tick (50ms), which cannot be changed; got %d", t)
	}
	if k := s.Raft.KeepOldSnapshots; k != nil && *k > limits.MaxKeepOldSnapshots {
		return errdefs.Invalid("Raft.KeepOldSnapshots: %d is more than the limit of %d", *k, limits.MaxKeepOldSnapshots)
	}
	return limits.Swarm(s)
}

// The raft ticks a swarm spec may give, SwarmKit's defaults: Shoal's raft
// (hashicorp/raft) has a 500 ms election timeout and heartbeats every
// tenth of it.
const (
	RaftElectionTick  = 10
	RaftHeartbeatTick = 1
)

// nextRoot returns the root a swarm update asks to rotate to — the given
// certificate and key, or a new root when only ForceRotate moved — or nil
// when it asks for no rotation.
func nextRoot(cur, s swarm.Spec) (*ca.RootCA, error) {
	switch {
	case s.CAConfig.SigningCACert != "":
		root, err := ca.ParseRootCA([]byte(s.CAConfig.SigningCACert), []byte(s.CAConfig.SigningCAKey))
		if err != nil {
			return nil, invalidArgument("CAConfig.SigningCACert: %v", err)
		}
		return root, nil
	case s.CAConfig.ForceRotate != cur.CAConfig.ForceRotate:
		return ca.NewRootCA()
	}
	return nil, nil
}

// UpdateSwarm merges spec into the swarm's spec (see MergeSwarmSpec),
// which must still be at version, and rotates what rot asks for. Turning
// autolock on makes an unlock key; turning it off drops it.
func (a *API) UpdateSwarm(ctx context.Context, version uint64, spec swarm.Spec, rot Rotation) error {
	return a.store.Update(ctx, func(tx *store.WriteTx) error {
		cur := store.TheCluster(tx.ReadTx)
		if cur == nil {
			return errNoSwarm
		}
		if cur.Version.Index != version {
			return errOutOfSequence
		}
		merged := MergeSwarmSpec(cur.Spec, spec)
		if err := validateSwarmSpec(cur.Spec, merged); err != nil {
			return err
		}
		if err := checkServicesWithin(tx.ReadTx, cur.Spec, merged); err != nil {
			return err
		}
		if len(cur.RootCAKey) == 0 && len(cur.Spec.CAConfig.ExternalCAs) > 0 && len(merged.CAConfig.ExternalCAs) == 0 {
			return invalidArgument("CAConfig.ExternalCAs: the swarm does not hold its root CA key, so without an external CA nobody could sign node certificates")
		}
		next, err := nextRoot(cur.Spec, merged)
		if err != nil {
			return err
		}
		c := store.Clone(cur)
		if next != nil {
			if c, err = rootca.Start(cur, next); err != nil {
				return err
			}
		}
		// The signing key is kept in RootCAKey (or RootRotation), never in
		// the spec the API serves.
		merged.CAConfig.SigningCACert, merged.CAConfig.SigningCAKey = "", ""
		c.Spec = merged
		if rot.WorkerToken || rot.ManagerToken {
			root, err := ca.ParseRootCA(c.RootCACert, nil)
			if err != nil {
				return err
			}
			if rot.WorkerToken {
				c.JoinTokens.Worker = ca.NewJoinToken(root)
			}
			if rot.ManagerToken {
				c.JoinTokens.Manager = ca.NewJoinToken(root)
			}
		}
		switch {
		case !merged.EncryptionConfig.AutoLockManagers:
			c.UnlockKey = ""
		case c.UnlockKey == "" || rot.ManagerUnlockKey:
			c.UnlockKey = NewUnlockKey()
		}
		if sameJSON(c, cur) {
			return nil
		}
		return tx.Put(c)
	})
}

// UnlockKey returns the key that unlocks autolocked managers, or "" when
// autolock is off.
func (a *API) UnlockKey(ctx context.Context) (string, error) {
	var c *store.Cluster
	a.store.View(func(tx store.ReadTx) { c = store.TheCluster(tx) })
	if c == nil {
		return "", errNoSwarm
	}
	return c.UnlockKey, nil
}

// Unlock keys look like SwarmKit's: SWMKEY-1-<32 random bytes, base64>.
const unlockKeyPrefix = "SWMKEY-1-"

// NewUnlockKey makes a fresh unlock key.
func NewUnlockKey() string {
	var b [32]byte
	rand.Read(b[:])
	return unlockKeyPrefix + base64.RawStdEncoding.EncodeToString(b[:])
}

// ParseUnlockKey returns the key bytes of an unlock key.
func ParseUnlockKey(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, unlockKeyPrefix)
	if !ok {
		return nil, errdefs.Invalid("invalid key string")
	}
	// Strict: "00" and "0w" would otherwise both decode to the same byte;
	// and the decoder skips newlines: only the key as it was printed
	// unlocks.
	b, err := base64.RawStdEncoding.Strict().DecodeString(rest)
	if err != nil || len(b) == 0 || strings.ContainsAny(rest, "\r\n") {
		return nil, errdefs.Invalid("invalid key string")
	}
	return b, nil
}
