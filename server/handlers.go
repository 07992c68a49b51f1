package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// route is one endpoint: the probe-able function it calls, what it shows, and the crash-matrix
// rows it serves.
type route struct {
	path, symbol, params, shows string
	triggers                    []trigger
	handle                      http.HandlerFunc
}

// trigger is one row of the crash matrix: a request to its route that makes the runtime walk or
// move the probed frame. This table is the only list of triggers: the lab's crash matrix, its
// usage text, the README and the site read it from `server -list` or /endpoints.json.
type trigger struct {
	id, title string
	// query is the matrix's argument, e.g. "arg=2000".
	query string
	// varies is a regexp for the part of the body that differs between two healthy runs, so the
	// matrix does not count that difference as damage.
	varies string
}

func routes() []route {
	return []route{
		{"/", "main.demo", "arg=N", "the seed's demo; arg=2000 recurses deep enough to grow the goroutine stack", []trigger{
			{id: "plain", title: "plain call", query: "arg=3"},
			{id: "stack-growth", title: "stack growth (copystack)", query: "arg=2000"},
		}, withArg(func(n int) string {
			return fmt.Sprintf("demo(%d) = %d\n", n, demo(n))
		})},
		{"/gc", "main.scanDuringGC", "arg=N", "runtime.GC() scans the stack while the probed frame is live", []trigger{
			{id: "gc", title: "runtime.GC() stack scan", query: "arg=100"},
		}, withArg(func(n int) string {
			return fmt.Sprintf("scanDuringGC(%d) = %d\n", n, scanDuringGC(n))
		})},
		{"/panic", "main.panicThrough", "arg=N", "a panic unwinds through the probed frame; the handler recovers", []trigger{
			{id: "panic-through", title: "panic unwinding through the frame", query: "arg=1"},
		}, withArg(func(n int) (body string) {
			defer func() { body = fmt.Sprintf("recovered: %v\n", recover()) }()
			return fmt.Sprint(panicThrough(n))
		})},
		{"/recover", "main.recoverInside", "arg=N", "a panic recovered inside the probed frame", []trigger{
			{id: "recover-inside", title: "panic recovered inside the frame", query: "arg=4"},
		}, withArg(func(n int) string {
			return fmt.Sprintf("recoverInside(%d) = %d\n", n, recoverInside(n))
		})},
		{"/callers", "main.countCallers", "arg=N", "runtime.Callers from inside the probed frame", []trigger{
			{id: "callers", title: "runtime.Callers", query: "arg=1"},
		}, withArg(func(n int) string {
			names := countCallers(n)
			return fmt.Sprintf("frames=%d\n%s\n", len(names), strings.Join(names, "\n"))
		})},
		{"/stack", "main.stackTrace", "arg=N", "debug.Stack from inside the probed frame", []trigger{
			{id: "debug-stack", title: "debug.Stack", query: "arg=1"},
		}, withArg(func(n int) string {
			return stackTrace(n) + "\n"
		})},
		{"/hop", "main.hopThreads", "arg=N", "the goroutine resumes on another OS thread before it returns (the kernel's SIGILL)", []trigger{
			{id: "thread-hop", title: "return on another OS thread", query: "arg=100", varies: `moved threads: \w+`},
		}, withArg(func(n int) string {
			return fmt.Sprintf("hopThreads(%d) moved threads: %v\n", n, hopThreads(n) == 1)
		})},
		{"/inline", "main.addOne", "arg=N", "inlined everywhere: no symbol to probe (main.square: partly inlined)", nil, withArg(func(n int) string {
			return fmt.Sprintf("addOne(%d) = %d, square = %d, squareFunc = %d\n", n, addOne(n), square(n), squareFunc(n))
		})},
		{"/classify", "main.classify", "arg=N", "several RET instructions and a defer", nil, withArg(func(n int) string {
			return fmt.Sprintf("classify(%d) = %s\n", n, classify(n))
		})},
		{"/words", "main.wordStats", "s=TEXT", "a Go string argument (ptr+len) and two return values", nil, func(w http.ResponseWriter, r *http.Request) {
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
				http.Error(w, fmt.Sprintf("no endpoint %s; see /endpoints for the list", r.URL.Path), http.StatusNotFound)
				return
			}
			rt.handle(w, r)
		})
	}
	for _, s := range shapes() {
		mux.HandleFunc(s.path, s.handle)
	}
	mux.HandleFunc("/endpoints", func(w http.ResponseWriter, r *http.Request) {
		for _, rt := range routes() {
			fmt.Fprintf(w, "%-10s %-20s %s\n", rt.path, rt.symbol, rt.shows)
		}
		fmt.Fprintf(w, "\nshapes of values for tracers to decode (not crash triggers):\n")
		for _, s := range shapes() {
			fmt.Fprintf(w, "%-16s %-20s %s (?%s)\n", s.path, s.symbol, s.shows, s.params)
		}
	})
	mux.HandleFunc("/endpoints.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		writeListing(w)
	})
	return mux
}

// The listing's JSON: what `server -list` prints and /endpoints.json serves.
type endpointJSON struct {
	Path   string `json:"path"`
	Symbol string `json:"symbol"`
	Shows  string `json:"shows"`
	Params string `json:"params,omitempty"`
}

type triggerJSON struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Path   string `json:"path"`
	Symbol string `json:"symbol"`
	Varies string `json:"varies,omitempty"`
}

type listingJSON struct {
	Endpoints []endpointJSON `json:"endpoints"`
	Triggers  []triggerJSON  `json:"triggers"`
	Shapes    []endpointJSON `json:"shapes"`
}

func listing() listingJSON {
	l := listingJSON{Endpoints: []endpointJSON{}, Triggers: []triggerJSON{}, Shapes: []endpointJSON{}}
	for _, rt := range routes() {
		l.Endpoints = append(l.Endpoints, endpointJSON{Path: rt.path, Symbol: rt.symbol, Params: rt.params, Shows: rt.shows})
		for _, t := range rt.triggers {
			l.Triggers = append(l.Triggers, triggerJSON{ID: t.id, Title: t.title, Path: rt.path + "?" + t.query, Symbol: rt.symbol, Varies: t.varies})
		}
	}
	for _, s := range shapes() {
		l.Shapes = append(l.Shapes, endpointJSON{Path: s.path, Symbol: s.symbol, Shows: s.shows, Params: s.params})
	}
	return l
}

func writeListing(w interface{ Write([]byte) (int, error) }) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(listing())
}

// withArg parses ?arg=N (0..maxArg), answers 400 with a one-line reason when it is missing or
// malformed, and admits a deep one only while a slot is free.
func withArg(f func(int) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, err := parseArg(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		release, ok := admit(w, n)
		if !ok {
			return
		}
		defer release()
		fmt.Fprint(w, f(n))
	}
}

func parseArg(q map[string][]string) (int, error) {
	return intParam(q, "arg", 0, maxArg, 42)
}

// intParam reads ?name=N as a decimal integer in [lo, hi], with a one-line reason when it is not.
func intParam(q map[string][]string, name string, lo, hi, example int) (int, error) {
	vals, ok := q[name]
	if !ok || len(vals) == 0 || vals[0] == "" {
		return 0, fmt.Errorf("missing ?%s=N: pass an integer between %d and %d, e.g. ?%s=%d", name, lo, hi, name, example)
	}
	n, err := strconv.Atoi(vals[0])
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer: pass a number between %d and %d", name, vals[0], lo, hi)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s %d is out of range: pass a number between %d and %d", name, n, lo, hi)
	}
	return n, nil
}
