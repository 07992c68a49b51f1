package main

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// What one client can cost the server. Unbounded, a thousand concurrent /?arg=10000 took it past
// 3 GB (each holds a ~4 MB goroutine stack) and a connection that never finished its headers was
// kept forever.
const (
	// maxArg keeps every trigger bounded: deeper recursion would only make the demo slower,
	// never more instructive.
	maxArg = 10000
	// A request whose size (arg, depth × goroutines, bytes) is above cheapSize is deep: it needs
	// one of maxDeep slots, and is answered 503 at once when they are all taken.
	cheapSize = 100
	maxDeep   = 8

	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	// The slowest legitimate answer, /hop?arg=10000, takes about a minute.
	writeTimeout   = 2 * time.Minute
	idleTimeout    = 30 * time.Second
	maxHeaderBytes = 64 << 10
)

// deepSlots is a semaphore: a value in the channel is a deep request running.
var deepSlots = make(chan struct{}, maxDeep)

// admit runs deep requests only while a slot is free; it answers 503 with a one-line reason
// (and Retry-After) otherwise. It reports whether the request may go on; call release when done.
//
// A deep answer also closes its connection: the goroutine that served it keeps its grown stack
// (up to 4 MB) while the connection idles, so a thousand idle keep-alive clients would hold
// 4 GB between them; ending the goroutine frees it.
func admit(w http.ResponseWriter, size int) (release func(), ok bool) {
	if size <= cheapSize {
		return func() {}, true
	}
	select {
	case deepSlots <- struct{}{}:
		w.Header().Set("Connection", "close")
		return func() { <-deepSlots }, true
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("server busy: %d deep requests (size > %d) are already running; retry in a second or ask for less", maxDeep, cheapSize), http.StatusServiceUnavailable)
		return nil, false
	}
}

// serve answers on ln with the limits above.
func serve(ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	return srv.Serve(ln)
}
