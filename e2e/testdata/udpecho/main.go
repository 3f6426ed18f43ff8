// Command udpecho answers each UDP datagram on a port with the host's name
// and the address the datagram came from: a UDP server for the end-to-end
// tests, which busybox's nc cannot be here.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
)

func main() {
	addr := flag.String("listen", ":5353", "UDP address to answer on")
	flag.Parse()
	conn, err := net.ListenPacket("udp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	host, _ := os.Hostname()
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		reply := fmt.Sprintf("%s %s %s", host, from, buf[:n])
		if _, err := conn.WriteTo([]byte(reply), from); err != nil {
			log.Print(err)
		}
	}
}
