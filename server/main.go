// Command server is the Go program the lab traces. The crash triggers live in triggers.go, the
// value shapes for typed decoding in shapes.go; handlers.go wires HTTP routes to them and holds
// the one table of triggers, which `server -list` prints as JSON.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8091", "address to listen on (use 127.0.0.1:0 for a free port)")
	list := flag.Bool("list", false, "print the endpoints, crash triggers and shapes as JSON (what /endpoints.json serves) and exit")
	flag.Parse()
	if *list {
		if err := writeListing(os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "server: cannot write the listing: %v\n", err)
			os.Exit(1)
		}
		return
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: cannot listen on %s: %v (is another server running? stop it or pass -addr 127.0.0.1:0)\n", *addr, err)
		os.Exit(1)
	}
	// The lab's process manager reads this line to learn the port and the PID.
	fmt.Fprintf(os.Stderr, "listening on http://%s pid %d\n", ln.Addr(), os.Getpid())
	log.Fatal(serve(ln, newMux()))
}
