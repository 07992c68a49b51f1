package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Each exported-to-the-lab function below is //go:noinline so the symbol
// exists in the binary and a probe can be put on it. Under a uretprobe the
// return address of its frame is replaced by the kernel's trampoline
// (0x7fffffffe000); each function then makes the Go runtime walk or move that
// frame in a different way.

// demo is the seed's function: it prints its argument and returns it.
// It recurses arg levels deep with a sizeable frame first, so a large arg
// (2000) makes the goroutine stack grow (morestack -> copystack) while demo's
// frame, and its hijacked return slot, is live.
//
//go:noinline
func demo(arg int) int {
	fmt.Printf("demo called with %d\n", arg)
	if growStack(arg) != arg {
		panic("growStack lost count")
	}
	return arg
}

// growStack recurses depth times, each frame holding a 256-byte buffer.
//
//go:noinline
func growStack(depth int) int {
	var pad [32]int64
	pad[depth%32] = int64(depth)
	if depth <= 0 {
		return 0
	}
	return growStack(depth-1) + 1 + int(pad[depth%32]-int64(depth))
}

// scanDuringGC runs a full garbage collection while its own frame is on the
// stack, so the collector's stack scan has to unwind through it.
//
//go:noinline
func scanDuringGC(n int) int {
	keep := make([]*int, n)
	for i := range keep {
		v := i
		keep[i] = &v
	}
	runtime.GC()
	sum := 0
	for _, p := range keep {
		sum += *p
	}
	return sum
}

// panicThrough panics; the handler recovers, so the panic unwinds through
// this frame on its way out.
//
//go:noinline
func panicThrough(n int) int {
	if n >= 0 {
		panic(fmt.Sprintf("panicThrough(%d)", n))
	}
	return n
}

// recoverInside panics and recovers within its own frame, then returns.
//
//go:noinline
func recoverInside(n int) (result int) {
	defer func() {
		if r := recover(); r != nil {
			result = n * 2
		}
	}()
	explode(n)
	return -1
}

//go:noinline
func explode(n int) {
	panic(fmt.Sprintf("explode(%d)", n))
}

// countCallers asks the runtime for its own call stack (runtime.Callers)
// and returns the function names it found, innermost first.
//
//go:noinline
func countCallers(n int) []string {
	pcs := make([]uintptr, 64)
	got := runtime.Callers(1, pcs)
	frames := runtime.CallersFrames(pcs[:got])
	var names []string
	for {
		f, more := frames.Next()
		names = append(names, f.Function)
		if !more {
			break
		}
	}
	return names
}

// stackTrace returns debug.Stack() reduced to its function lines, so two
// runs of the same binary compare equal unless the traceback was damaged.
//
//go:noinline
func stackTrace(n int) string {
	var out []string
	for _, line := range strings.Split(string(debug.Stack()), "\n") {
		if line == "" || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "goroutine ") {
			continue
		}
		if i := strings.LastIndex(line, "("); i > 0 {
			line = line[:i]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// addOne is small enough that the compiler inlines it at every call site (see
// `go build -gcflags=-m`; /inline and /shapes/inlined call it): the binary has no
// main.addOne symbol to probe.
func addOne(n int) int {
	return n + 1
}

// square is inlined where it is called directly but also used as a function
// value, so an out-of-line copy exists: probing it misses the inlined calls.
func square(n int) int {
	return n * n
}

var squareFunc = square

// classify has several RET instructions and a defer: the places a RET-site
// tracer must find.
//
//go:noinline
func classify(n int) (label string) {
	defer func() {
		if label == "" {
			label = "unknown"
		}
	}()
	switch {
	case n < 0:
		return "negative"
	case n == 0:
		return "zero"
	case n%2 == 0:
		return "even"
	case n > 1000:
		return ""
	}
	return "odd"
}

// wordStats takes a Go string (pointer + length in two registers) and returns
// two values (in AX and BX).
//
//go:noinline
func wordStats(s string) (words int, vowels int) {
	words = len(strings.Fields(s))
	for _, r := range s {
		if strings.ContainsRune("aeiouAEIOU", r) {
			vowels++
		}
	}
	return words, vowels
}

// hopThreads sleeps while a busy goroutine occupies its thread, so the
// scheduler resumes it on another OS thread. A uretprobe's return instance
// belongs to the thread that entered the function: returning on a different
// thread reaches the trampoline with no (or someone else's) return instance.
//
//go:noinline
func hopThreads(n int) int {
	start := gettid()
	for i := 0; i < n; i++ {
		done := make(chan struct{})
		go func() {
			deadline := time.Now().Add(5 * time.Millisecond)
			for time.Now().Before(deadline) {
			}
			close(done)
		}()
		time.Sleep(time.Millisecond)
		<-done
		if gettid() != start {
			return 1
		}
	}
	return 0
}
