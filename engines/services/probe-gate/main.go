// Command probe-gate is the front door of the lab's probe service. It listens on a Unix socket
// that attendees may connect to, learns each caller's uid, gid and PID from the socket itself
// (SO_PEERCRED, set by the kernel, not by the caller) and the caller's PID namespace (through a
// pidfd of the caller — SO_PEERPIDFD — so the namespace read is that process's even if it exits and
// its PID is reused), and relays the connection to the probe service's private socket (root only)
// after one header line the caller cannot forge:
//
//	{"uid":1001,"gid":1001,"pid":4242,"pidns":"pid:[4026531836]"}
//
// The caller names PIDs as it sees them; the namespace tells the service which processes those are.
// Node has no API for SO_PEERCRED or pidfds, which is why this small piece is Go (standard library only).
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

// Linux system calls and socket options the standard library has no name for (the same number on every architecture).
const (
	soPeerPidfd        = 77  // SO_PEERPIDFD, Linux 6.5
	sysPidfdSendSignal = 424 // pidfd_send_signal, Linux 5.1
	sysPidfdOpen       = 434 // pidfd_open, Linux 5.3
)

// peerPidNS reads the caller's PID namespace while holding the caller by a pidfd: the kernel's own
// (SO_PEERPIDFD) where there is one, else one opened on the PID. The namespace read counts only if
// the pidfd's process is still alive afterwards — then the PID still named it when it was read.
func peerPidNS(c *net.UnixConn, pid int32) (string, error) {
	pidfd := -1
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			if v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, soPeerPidfd); err == nil {
				pidfd = v
			}
		})
	}
	if pidfd < 0 {
		if r, _, e := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0); e == 0 {
			pidfd = int(r)
		}
	}
	if pidfd >= 0 {
		defer syscall.Close(pidfd)
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		return "", fmt.Errorf("cannot read your PID namespace: %v", err)
	}
	if pidfd >= 0 {
		if _, _, e := syscall.Syscall6(sysPidfdSendSignal, uintptr(pidfd), 0, 0, 0, 0, 0); e != 0 {
			return "", fmt.Errorf("the connecting process is gone")
		}
	}
	return ns, nil
}

func relay(c *net.UnixConn, upstream string) {
	defer c.Close()
	cred, err := peer(c)
	if err != nil {
		fmt.Fprintf(c, "{\"op\":\"error\",\"error\":%q}\n", "the probe service cannot tell who you are: "+err.Error())
		return
	}
	pidns, err := peerPidNS(c, cred.Pid)
	if err != nil {
		fmt.Fprintf(c, "{\"op\":\"error\",\"error\":%q}\n", "the probe service cannot tell your PID namespace: "+err.Error())
		return
	}
	up, err := net.Dial("unix", upstream)
	if err != nil {
		fmt.Fprintln(c, `{"op":"error","error":"the probe service is not running — ask the instructor"}`)
		return
	}
	defer up.Close()
	if _, err := fmt.Fprintf(up, "{\"uid\":%d,\"gid\":%d,\"pid\":%d,\"pidns\":%q}\n", cred.Uid, cred.Gid, cred.Pid, pidns); err != nil {
		return
	}
	// The caller hanging up ends its half; the service then releases its probes and closes ours.
	done := make(chan struct{})
	go func() { io.Copy(up, c); up.(*net.UnixConn).CloseWrite() }()
	go func() { io.Copy(c, up); close(done) }()
	<-done
}
