package encrypt

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// This file decides what to tell wireguard-go, in its configuration
// protocol (the text `wg set` sends: key=value lines, a peer's lines
// following its public_key line), without doing it.

// deviceUAPI sets the device's own key and port.
func deviceUAPI(key Key, port uint16) string {
	return fmt.Sprintf("private_key=%s\nlisten_port=%d\n", key.hex(), port)
}

// checkPeers refuses peers the tunnel cannot have: a key that is not one,
// the node's own key, a tunnel address outside the tunnel prefix (or the
// node's own), two peers with one key or one address (WireGuard would
// quietly give the address to the last), an endpoint with no port. It
// returns the peers by public key.
func checkPeers(self string, tunnel netip.Prefix, peers []Peer) (map[string]Peer, error) {
	byKey := make(map[string]Peer, len(peers))
	byAddr := make(map[netip.Addr]string, len(peers))
	for _, p := range peers {
		if _, err := publicKeyHex(p.PublicKey); err != nil {
			return nil, errdefs.Invalid("peer public key %q: %v", p.PublicKey, err)
		}
		switch {
		case p.PublicKey == self:
			return nil, errdefs.Invalid("peer %s has this node's own public key", p.Endpoint)
		case !p.Addr.Is4() || !tunnel.Contains(p.Addr):
			return nil, errdefs.Invalid("peer %s tunnel address %v is not in the tunnel prefix %s", p.PublicKey, p.Addr, tunnel.Masked())
		case p.Addr == tunnel.Addr():
			return nil, errdefs.Invalid("peer %s tunnel address %s is this node's own", p.PublicKey, p.Addr)
		case !p.Endpoint.IsValid() || p.Endpoint.Port() == 0:
			return nil, errdefs.Invalid("peer %s endpoint %v: want an address and a port", p.PublicKey, p.Endpoint)
		}
		if _, dup := byKey[p.PublicKey]; dup {
			return nil, errdefs.Invalid("peer public key %s is given twice", p.PublicKey)
		}
		if other, dup := byAddr[p.Addr]; dup {
			return nil, errdefs.Invalid("peers %s and %s have the same tunnel address %s", other, p.PublicKey, p.Addr)
		}
		byKey[p.PublicKey] = p
		byAddr[p.Addr] = p.PublicKey
	}
	return byKey, nil
}

// peersUAPI turns the device's peers from current into desired, touching
// only the peers that differ; it is empty when none does. A nil current
// means the device's peers are unknown: all are replaced.
func peersUAPI(current, desired map[string]Peer) string {
	var b strings.Builder
	if current == nil {
		b.WriteString("replace_peers=true\n")
	}
	for _, key := range sortedKeys(current) {
		if _, keep := desired[key]; !keep {
			fmt.Fprintf(&b, "public_key=%s\nremove=true\n", mustHex(key))
		}
	}
	for _, key := range sortedKeys(desired) {
		p := desired[key]
		if old, ok := current[key]; ok && old == p {
			continue
		}
		fmt.Fprintf(&b, "public_key=%s\nendpoint=%s\nreplace_allowed_ips=true\nallowed_ip=%s\n",
			mustHex(key), p.Endpoint, netip.PrefixFrom(p.Addr, 32))
	}
	return b.String()
}

func sortedKeys(m map[string]Peer) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mustHex converts a key checkPeers has accepted.
func mustHex(key string) string {
	h, err := publicKeyHex(key)
	if err != nil {
		panic("encrypt: unchecked public key " + key)
	}
	return h
}
