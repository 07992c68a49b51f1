package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// maxArg keeps every trigger bounded: deeper recursion would only make the
// demo slower, never more instructive.
const maxArg = 10000

// route is one endpoint: the probe-able function it calls and what it shows.
type route struct {
	path, symbol, shows string
	handle              func(w http.ResponseWriter, r *http.Request)
}

func routes() []route {
	return []route{
		{"/", "main.demo", "the seed's demo(arg); arg=2000 grows the goroutine stack", withArg(func(n int) string {
			return fmt.Sprintf("demo(%d) = %d\n", n, demo(n))
		})},
		{"/gc", "main.scanDuringGC", "runtime.GC() scans the stack while the probed frame is live", withArg(func(n int) string {
			return fmt.Sprintf("scanDuringGC(%d) = %d\n", n, scanDuringGC(n))
		})},
		{"/panic", "main.panicThrough", "a panic unwinds through the probed frame; the handler recovers", withArg(func(n int) (body string) {
			defer func() { body = fmt.Sprintf("recovered: %v\n", recover()) }()
			return fmt.Sprint(panicThrough(n))
		})},
		{"/recover", "main.recoverInside", "a panic is recovered inside the probed frame", withArg(func(n int) string {
			return fmt.Sprintf("recoverInside(%d) = %d\n", n, recoverInside(n))
		})},
		{"/callers", "main.countCallers", "runtime.Callers from inside the probed frame", withArg(func(n int) string {
			names := countCallers(n)
			return fmt.Sprintf("frames=%d\n%s\n", len(names), strings.Join(names, "\n"))
		})},
		{"/stack", "main.stackTrace", "debug.Stack from inside the probed frame", withArg(func(n int) string {
			return stackTrace(n) + "\n"
		})},
		{"/hop", "main.hopThreads", "the goroutine resumes on another OS thread before returning", withArg(func(n int) string {
			return fmt.Sprintf("hopThreads(%d) moved threads: %v\n", n, hopThreads(n) == 1)
		})},
		{"/inline", "main.addOne", "a function the compiler inlined: no symbol to probe", withArg(func(n int) string {
			return fmt.Sprintf("addOne(%d) = %d, square = %d, squareFunc = %d\n", n, addOne(n), square(n), squareFunc(n))
		})},
		{"/classify", "main.classify", "several RET instructions and a defer", withArg(func(n int) string {
			return fmt.Sprintf("classify(%d) = %s\n", n, classify(n))
		})},
		{"/words", "main.wordStats", "a Go string argument and two return values", func(w http.ResponseWriter, r *http.Request) {
			s := r.URL.Query().Get("s")
			if len(s) > 4096 {
				http.Error(w, "s is longer than 4096 bytes; send a shorter string", http.StatusBadRequest)
				return
			}
			words, vowels := wordStats(s)
			fmt.Fprintf(w, "wordStats(%q) = %d words, %d vowels\n", s, words, vowels)
		}},
	}
}

func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range routes() {
		rt := rt
		mux.HandleFunc(rt.path, func(w http.ResponseWriter, r *http.Request) {
			if rt.path == "/" && r.URL.Path != "/" {
				http.Error(w, fmt.Sprintf("no endpoint %s; see / for the list", r.URL.Path), http.StatusNotFound)
				return
			}
			rt.handle(w, r)
		})
	}
	mux.HandleFunc("/endpoints", func(w http.ResponseWriter, r *http.Request) {
		for _, rt := range routes() {
			fmt.Fprintf(w, "%-10s %-20s %s\n", rt.path, rt.symbol, rt.shows)
		}
	})
	return mux
}

// withArg parses ?arg=N (0..maxArg) and answers 400 with a one-line reason
// when it is missing or malformed.
func withArg(f func(int) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, err := parseArg(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, f(n))
	}
}

func parseArg(q map[string][]string) (int, error) {
	vals, ok := q["arg"]
	if !ok || len(vals) == 0 || vals[0] == "" {
		return 0, fmt.Errorf("missing ?arg=N: pass an integer between 0 and %d, e.g. ?arg=42", maxArg)
	}
	n, err := strconv.Atoi(vals[0])
	if err != nil {
		return 0, fmt.Errorf("arg %q is not an integer: pass a number between 0 and %d", vals[0], maxArg)
	}
	if n < 0 || n > maxArg {
		return 0, fmt.Errorf("arg %d is out of range: pass a number between 0 and %d", n, maxArg)
	}
	return n, nil
}
