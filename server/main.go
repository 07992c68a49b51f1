// Command server is the Go program the lab traces. Every probe-able function
// lives in triggers.go; this file only wires HTTP routes to them.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8091", "address to listen on (use 127.0.0.1:0 for a free port)")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: cannot listen on %s: %v (is another server running? stop it or pass -addr 127.0.0.1:0)\n", *addr, err)
		os.Exit(1)
	}
	// The lab's process manager reads this line to learn the port and the PID.
	fmt.Fprintf(os.Stderr, "listening on http://%s pid %d\n", ln.Addr(), os.Getpid())
	log.Fatal(http.Serve(ln, newMux()))
}
