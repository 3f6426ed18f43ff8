package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNamespace runs f on an OS thread that entered the network namespace
// ns, then moves the thread back to the daemon's namespace. Sockets belong
// to the namespace they were made in for their whole life, so f makes them
// there and anyone may use them afterwards. A thread that cannot go back
// stays locked to its goroutine, and the runtime ends it with the
// goroutine instead of handing the namespace to other code.
func inNamespace(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("open the daemon's network namespace: %w", err)
			return
		}
		defer home.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := f()
		if err := netns.Set(home); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to the daemon's network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// listen opens the server's UDP and TCP sockets on Address, port 53, in
// the namespace ns, bringing its loopback up first: 127.0.0.11 is an
// address of lo only while lo is up.
func listen(ns netns.NsHandle) (*net.UDPConn, *net.TCPListener, error) {
	var (
		udp *net.UDPConn
		tcp *net.TCPListener
	)
	err := inNamespace(ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if lo.Attrs().Flags&net.FlagUp == 0 {
			if err := netlink.LinkSetUp(lo); err != nil {
				return fmt.Errorf("bring lo up: %w", err)
			}
		}
		addr := &net.UDPAddr{IP: Address.AsSlice(), Port: 53}
		if udp, err = net.ListenUDP("udp4", addr); err != nil {
			return err
		}
		if tcp, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: addr.IP, Port: addr.Port}); err != nil {
			udp.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s:53: %w", Address, err)
	}
	return udp, tcp, nil
}

// dialIn connects to addr over network from the namespace ns.
func dialIn(ctx context.Context, ns netns.NsHandle, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNamespace(ns, func() error {
		var err error
		c, err = new(net.Dialer).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
