// Command probe-gate is the front door of the lab's probe service. It listens on a Unix socket
// that attendees may connect to, learns each caller's uid and gid from the socket itself
// (SO_PEERCRED, set by the kernel, not by the caller), and relays the connection to the probe
// service's private socket (root only) after one header line the caller cannot forge:
//
//	{"uid":1001,"gid":1001,"pid":4242}
//
// Node has no API for SO_PEERCRED, which is why this small piece is Go (standard library only).
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", "", "socket attendees connect to (created 0666; the kernel tells us who they are)")
	upstream := flag.String("upstream", "", "the probe service's private socket")
	flag.Parse()
	if *listen == "" || *upstream == "" {
		fmt.Fprintln(os.Stderr, "probe-gate: -listen and -upstream are required")
		os.Exit(2)
	}
	os.Remove(*listen)
	ln, err := net.Listen("unix", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe-gate: %v\n", err)
		os.Exit(1)
	}
	if err := os.Chmod(*listen, 0o666); err != nil {
		fmt.Fprintf(os.Stderr, "probe-gate: %v\n", err)
		os.Exit(1)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() { <-stop; ln.Close(); os.Remove(*listen); os.Exit(0) }()
	fmt.Fprintln(os.Stderr, "probe-gate: listening on", *listen)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go relay(c.(*net.UnixConn), *upstream)
	}
}

func peer(c *net.UnixConn) (*syscall.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}

func relay(c *net.UnixConn, upstream string) {
	defer c.Close()
	cred, err := peer(c)
	if err != nil {
		fmt.Fprintf(c, "{\"op\":\"error\",\"error\":\"the probe service cannot tell who you are: %v\"}\n", err)
		return
	}
	up, err := net.Dial("unix", upstream)
	if err != nil {
		fmt.Fprintln(c, `{"op":"error","error":"the probe service is not running — ask the instructor"}`)
		return
	}
	defer up.Close()
	if _, err := fmt.Fprintf(up, "{\"uid\":%d,\"gid\":%d,\"pid\":%d}\n", cred.Uid, cred.Gid, cred.Pid); err != nil {
		return
	}
	// The caller hanging up ends its half; the service then releases its probes and closes ours.
	done := make(chan struct{})
	go func() { io.Copy(up, c); up.(*net.UnixConn).CloseWrite() }()
	go func() { io.Copy(c, up); close(done) }()
	<-done
}
