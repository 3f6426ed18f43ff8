package encrypt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// capture records what crosses one interface, both ways, as a packet
// socket sees it (what tcpdump would show).
type capture struct {
	fd     int
	marker []byte
	done   chan captured
	stop   chan struct{}
	once   sync.Once
	result captured // set by Stop
}

// captured is what a capture saw.
type captured struct {
	frames int
	marker int            // frames holding the marker
	udp    map[uint16]int // UDP frames by port, source and destination both counted
	vxlan  map[uint32]int // frames to the VXLAN port by VNI
	drops  uint32         // frames the kernel could not queue to the capture
	err    error
}

// startCapture captures on ifname in the namespace at nsPath, looking for
// marker in every frame.
func startCapture(tb testing.TB, nsPath, ifname string, marker []byte) *capture {
	tb.Helper()
	fd := -1
	err := inNetns(nsPath, func() error {
		iface, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		// Room for a burst: a frame dropped here is one the test cannot
		// vouch for, and drops are checked at the end.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			return err
		}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000}); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: iface.Index})
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		tb.Fatalf("capture on %s: %v", ifname, err)
	}
	c := &capture{fd: fd, marker: marker, done: make(chan captured, 1), stop: make(chan struct{})}
	go c.run()
	tb.Cleanup(func() { c.Stop() })
	return c
}

func (c *capture) run() {
	defer unix.Close(c.fd)
	got := captured{udp: map[uint16]int{}, vxlan: map[uint32]int{}}
	// Large enough for the unsegmented GSO packets a packet socket sees
	// leaving the host.
	buf := make([]byte, 1<<18)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			select {
			case <-c.stop:
				stats, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
				if err == nil {
					got.drops = stats.Drops
				}
				got.err = err
				c.done <- got
				return
			default:
				continue
			}
		case err != nil:
			got.err = err
			c.done <- got
			return
		}
		frame := buf[:n]
		got.frames++
		if bytes.Contains(frame, c.marker) {
			got.marker++
		}
		if src, dst, payload, ok := udpIn(frame); ok {
			got.udp[src]++
			if dst != src {
				got.udp[dst]++
			}
			if dst == vxlanPort && len(payload) >= 8 {
				got.vxlan[uint32(payload[4])<<16|uint32(payload[5])<<8|uint32(payload[6])]++
			}
		}
	}
}

// Stop ends the capture and returns what it saw. It first drains the
// socket's queue: the capture ends once nothing came for 100ms.
func (c *capture) Stop() captured {
	c.once.Do(func() {
		close(c.stop)
		c.result = <-c.done
	})
	return c.result
}

// udpIn returns the ports and payload of an Ethernet frame holding IPv4
// UDP.
func udpIn(frame []byte) (src, dst uint16, payload []byte, ok bool) {
	const ethLen = 14
	if len(frame) < ethLen+20 || binary.BigEndian.Uint16(frame[12:14]) != unix.ETH_P_IP {
		return 0, 0, nil, false
	}
	ip := frame[ethLen:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != unix.IPPROTO_UDP || len(ip) < ihl+8 {
		return 0, 0, nil, false
	}
	udp := ip[ihl:]
	return binary.BigEndian.Uint16(udp[0:2]), binary.BigEndian.Uint16(udp[2:4]), udp[8:], true
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
