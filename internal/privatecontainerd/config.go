package privatecontainerd

import (
	"fmt"
	"strings"
)

// disabledPlugins are the plugins Shoal never uses. Turning them off keeps
// start-up fast and keeps this containerd from touching anything outside its
// own root and state (the CRI plugin would set up CNI, a streaming server and
// its own image service). Names of plugins a containerd version does not have
// are ignored by containerd, so one list serves 1.6 and 2.x.
var disabledPlugins = []string{
	"io.containerd.grpc.v1.cri",
	"io.containerd.cri.v1.images",
	"io.containerd.cri.v1.runtime",
	"io.containerd.podsandbox.controller.v1.podsandbox",
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.snapshotter.v1.blockfile",
	"io.containerd.snapshotter.v1.erofs",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
	"io.containerd.nri.v1.nri",
}

// renderConfig returns containerd's config.toml for a private instance with
// the given root, state and socket address.
func renderConfig(root, state, address string) ([]byte, error) {
	for _, p := range []string{root, state, address} {
		if err := checkTOMLSafe(p); err != nil {
			return nil, err
		}
	}
	var b strings.Builder
	b.WriteString("# Written by shoal at every start; edits are lost.\n")
	b.WriteString("version = 2\n")
	fmt.Fprintf(&b, "root = %q\n", root)
	fmt.Fprintf(&b, "state = %q\n", state)
	b.WriteString("disabled_plugins = [")
	for i, p := range disabledPlugins {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", p)
	}
	b.WriteString("]\n\n")
	fmt.Fprintf(&b, "[grpc]\n  address = %q\n\n", address)
	fmt.Fprintf(&b, "[ttrpc]\n  address = %q\n\n", address+".ttrpc")
	// An empty debug address keeps containerd from opening the default
	// /run/containerd/debug.sock that a system containerd may own.
	b.WriteString("[debug]\n  address = \"\"\n  level = \"info\"\n\n")
	b.WriteString("[metrics]\n  address = \"\"\n")
	return []byte(b.String()), nil
}

// checkTOMLSafe refuses paths that %q would quote with Go escapes TOML does
// not share; real paths never contain these characters.
func checkTOMLSafe(p string) error {
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return fmt.Errorf("path %q has a character containerd's config cannot hold", p)
		}
	}
	return nil
}
