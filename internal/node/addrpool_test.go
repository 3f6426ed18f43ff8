package node

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"
)

func TestAddrPool(t *testing.T) {
	pp := netip.MustParsePrefix
	tests := []struct {
		name       string
		req        swarm.InitRequest
		wantPools  string
		size, port uint32
		err        string
	}{
		{name: "Docker's defaults", wantPools: "[10.0.0.0/8]", size: 24, port: 4789},
		{name: "given", req: swarm.InitRequest{DefaultAddrPool: []netip.Prefix{pp("10.20.0.0/16"), pp("10.30.0.0/16")}, SubnetSize: 26, DataPathPort: 7777},
			wantPools: "[10.20.0.0/16 10.30.0.0/16]", size: 26, port: 7777},
		{name: "port too low", req: swarm.InitRequest{DataPathPort: 80}, err: "within range 1024 to 49151"},
		{name: "port too high", req: swarm.InitRequest{DataPathPort: 50000}, err: "within range 1024 to 49151"},
		{name: "pool smaller than subnets", req: swarm.InitRequest{DefaultAddrPool: []netip.Prefix{pp("10.0.0.0/28")}}, err: "smaller than the subnet size /24"},
		{name: "unmasked pool", req: swarm.InitRequest{DefaultAddrPool: []netip.Prefix{pp("10.0.0.1/16")}}, err: "did you mean 10.0.0.0/16"},
		{name: "overlapping pools", req: swarm.InitRequest{DefaultAddrPool: []netip.Prefix{pp("10.0.0.0/8"), pp("10.1.0.0/16")}}, err: "overlaps 10.0.0.0/8"},
		{name: "subnet size too large", req: swarm.InitRequest{SubnetSize: 31}, err: "at most 29"},
		{name: "IPv6 pool", req: swarm.InitRequest{DefaultAddrPool: []netip.Prefix{pp("fd00::/48")}}, err: "only IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pools, size, port, err := addrPool(tt.req)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pools {
				got = append(got, p.String())
			}
			if "["+strings.Join(got, " ")+"]" != tt.wantPools || size != tt.size || port != tt.port {
				t.Fatalf("got %v /%d port %d, want %s /%d port %d", got, size, port, tt.wantPools, tt.size, tt.port)
			}
		})
	}
}
