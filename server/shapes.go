package main

// Shapes: functions whose arguments and results have the shapes a tracer must decode (bool,
// int64, error interface, float, a long string, results of unwound and recovered frames,
// goroutine ids, an inlined function). They are not crash triggers: each is //go:noinline and
// cheap, and its endpoint reports what the program itself saw, so a test can compare it with
// what the tracer decoded.
//
//	/shapes/bool?n=N                 isEven(n int) bool
//	/shapes/int64?v=V                echo64(v int64) int64 (any int64, math.MaxInt64 and negatives too)
//	/shapes/error?fail=0|1           mayFail(fail bool) error: nil, or a *main.shapeError
//	/shapes/float?x=X&k=K            scale(x float64, k int) float64
//	/shapes/long?n=N                 wordStats(s string) on a string of N bytes (N ≤ maxLong)
//	/shapes/recurse?depth=D&panicAt=P&recoverAt=R&goroutines=G
//	                                 descend(level, panicAt, recoverAt int) (res int), see descend
//	/shapes/goid?x=X                 tracedGoid(x int) int, and the goroutine id the runtime reports
//	/shapes/inlined?n=N              addOne (inlined) called n times in a loop and from 2 more sites

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

const (
	maxLong       = 1 << 20
	maxDepth      = 1000
	maxGoroutines = 64
)

//go:noinline
func isEven(n int) bool {
	return n%2 == 0
}

//go:noinline
func echo64(v int64) int64 {
	return v
}

// shapeError is a named error type, so a tracer decoding mayFail's error sees *main.shapeError
// as the interface's dynamic type.
type shapeError struct {
	code int
}

func (e *shapeError) Error() string {
	return fmt.Sprintf("shape error %d", e.code)
}

//go:noinline
func mayFail(fail bool) error {
	if fail {
		return &shapeError{code: 42}
	}
	return nil
}

//go:noinline
func scale(x float64, k int) float64 {
	return x * float64(k)
}

// descendCall is what one call of descend saw when it ended.
type descendCall struct {
	Level  int `json:"level"`
	Result int `json:"result"`
	// Unwound: the call did not return; a panic went through it.
	Unwound bool `json:"unwound"`
}

// descents collects each goroutine's descend calls (by goroutine id) while a request runs:
// descend's signature has no room for a log.
var descents sync.Map // int64 -> *[]descendCall

// descend recurses from level down to 0: the outermost call is descend(depth, …), the innermost
// descend(0, …), which returns 0; every other call returns its callee's result + 1. The call at
// level panicAt panics instead of going deeper; the call at level recoverAt has a deferred
// recover, so when the panic reaches it, it returns normally with -level. Pass -1 for no panic
// or no recover.
//
//go:noinline
func descend(level, panicAt, recoverAt int) (res int) {
	returned := false
	defer func() { logDescend(descendCall{Level: level, Result: res, Unwound: !returned}) }()
	if level == recoverAt {
		defer func() {
			if r := recover(); r != nil {
				res = -level
				returned = true
			}
		}()
	}
	if level == panicAt {
		panic(fmt.Sprintf("descend panics at level %d", level))
	}
	if level > 0 {
		res = descend(level-1, panicAt, recoverAt) + 1
	}
	returned = true
	return res
}

func logDescend(c descendCall) {
	if calls, ok := descents.Load(goid()); ok {
		log := calls.(*[]descendCall)
		*log = append(*log, c)
	}
}

// descentJSON is one goroutine's recursion as the program saw it.
type descentJSON struct {
	Goroutine int64 `json:"goroutine"`
	// Result of the outermost call; absent when the panic escaped every frame.
	Result *int `json:"result"`
	// Escaped: no frame recovered the panic (the goroutine's own recover caught it).
	Escaped bool `json:"escaped"`
	// Calls in the order they ended: innermost first.
	Calls []descendCall `json:"calls"`
}

func runDescent(depth, panicAt, recoverAt int) (d descentJSON) {
	d.Goroutine = goid()
	log := &[]descendCall{}
	descents.Store(d.Goroutine, log)
	defer func() {
		d.Escaped = recover() != nil
		descents.Delete(d.Goroutine)
		d.Calls = *log
	}()
	res := descend(depth, panicAt, recoverAt)
	d.Result = &res
	return d
}

// tracedGoid returns the id of the goroutine it runs on, plus x.
//
//go:noinline
func tracedGoid(x int) int {
	return int(goid()) + x
}

// goid is the goroutine id the runtime reports in tracebacks ("goroutine 18 [running]:").
func goid() int64 {
	var buf [64]byte
	s := strings.TrimPrefix(string(buf[:runtime.Stack(buf[:], false)]), "goroutine ")
	id, err := strconv.ParseInt(s[:strings.IndexByte(s, ' ')], 10, 64)
	if err != nil {
		panic("runtime.Stack does not start with \"goroutine N \": " + s)
	}
	return id
}

// inlinedCalls calls addOne (which the compiler inlines) n times in a loop and from two more
// call sites, and counts the calls itself.
//
//go:noinline
func inlinedCalls(n int) int {
	calls := 0
	for i := 0; i < n; i++ {
		calls = addOne(calls)
	}
	calls = addOne(calls)
	return addOne(calls)
}

// longText is n bytes of words.
func longText(n int) string {
	const words = "tracing go safely with ebpf "
	return strings.Repeat(words, n/len(words)+1)[:n]
}

// shape is one /shapes/ endpoint.
type shape struct {
	path, symbol, params, shows string
	handle                      http.HandlerFunc
}

func shapes() []shape {
	return []shape{
		{"/shapes/bool", "main.isEven", "n=INT", "a bool result", func(w http.ResponseWriter, r *http.Request) {
			n, err := intParam(r.URL.Query(), "n", math.MinInt, math.MaxInt, 7)
			if badRequest(w, err) {
				return
			}
			fmt.Fprintf(w, "isEven(%d) = %v\n", n, isEven(n))
		}},
		{"/shapes/int64", "main.echo64", "v=INT64", "an int64 argument and result, math.MaxInt64 and negatives included", func(w http.ResponseWriter, r *http.Request) {
			v, err := strconv.ParseInt(r.URL.Query().Get("v"), 10, 64)
			if err != nil {
				err = fmt.Errorf("v %q is not a decimal int64: pass e.g. ?v=-5 or ?v=%d", r.URL.Query().Get("v"), int64(math.MaxInt64))
			}
			if badRequest(w, err) {
				return
			}
			fmt.Fprintf(w, "echo64(%d) = %d\n", v, echo64(v))
		}},
		{"/shapes/error", "main.mayFail", "fail=0|1", "an error result: nil, or a *main.shapeError", func(w http.ResponseWriter, r *http.Request) {
			n, err := intParam(r.URL.Query(), "fail", 0, 1, 1)
			if badRequest(w, err) {
				return
			}
			if e := mayFail(n == 1); e != nil {
				fmt.Fprintf(w, "mayFail(true) = %T(%q)\n", e, e.Error())
			} else {
				fmt.Fprintf(w, "mayFail(false) = nil\n")
			}
		}},
		{"/shapes/float", "main.scale", "x=FLOAT&k=INT", "a float64 argument and result next to an int", func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			x, err := strconv.ParseFloat(q.Get("x"), 64)
			if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
				err = fmt.Errorf("x %q is not a finite decimal number: pass e.g. ?x=1.5&k=3", q.Get("x"))
			}
			if badRequest(w, err) {
				return
			}
			k, err := intParam(q, "k", math.MinInt32, math.MaxInt32, 3)
			if badRequest(w, err) {
				return
			}
			fmt.Fprintf(w, "scale(%s, %d) = %s\n", strconv.FormatFloat(x, 'g', -1, 64), k, strconv.FormatFloat(scale(x, k), 'g', -1, 64))
		}},
		{"/shapes/long", "main.wordStats", fmt.Sprintf("n=0..%d", maxLong), "a string argument of n bytes", func(w http.ResponseWriter, r *http.Request) {
			n, err := intParam(r.URL.Query(), "n", 0, maxLong, 5000)
			if badRequest(w, err) {
				return
			}
			release, ok := admit(w, n/64)
			if !ok {
				return
			}
			defer release()
			s := longText(n)
			words, vowels := wordStats(s)
			fmt.Fprintf(w, "wordStats(%d bytes, starting %q) = %d words, %d vowels\n", len(s), s[:minInt(len(s), 16)], words, vowels)
		}},
		{"/shapes/recurse", "main.descend", fmt.Sprintf("depth=0..%d&panicAt=-1..depth&recoverAt=-1..depth&goroutines=1..%d", maxDepth, maxGoroutines),
			"recursion with a panic unwinding frames and a recover returning from one; answers JSON: what each call saw", func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				depth, err := intParam(q, "depth", 0, maxDepth, 5)
				if badRequest(w, err) {
					return
				}
				panicAt, recoverAt, goroutines := -1, -1, 1
				for _, p := range []struct {
					name    string
					to      *int
					lo, hi  int
					example int
				}{{"panicAt", &panicAt, -1, depth, 0}, {"recoverAt", &recoverAt, -1, depth, depth}, {"goroutines", &goroutines, 1, maxGoroutines, 4}} {
					if q.Get(p.name) == "" {
						continue
					}
					if *p.to, err = intParam(q, p.name, p.lo, p.hi, p.example); badRequest(w, err) {
						return
					}
				}
				release, ok := admit(w, depth*goroutines)
				if !ok {
					return
				}
				defer release()
				out := make([]descentJSON, goroutines)
				var wg sync.WaitGroup
				for i := range out {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						out[i] = runDescent(depth, panicAt, recoverAt)
					}(i)
				}
				wg.Wait()
				writeJSON(w, map[string]interface{}{"depth": depth, "panicAt": panicAt, "recoverAt": recoverAt, "goroutines": out})
			}},
		{"/shapes/goid", "main.tracedGoid", "x=INT", "the goroutine id the runtime reports, for a tracer's goroutine id to match", func(w http.ResponseWriter, r *http.Request) {
			x := 0
			if r.URL.Query().Get("x") != "" {
				var err error
				if x, err = intParam(r.URL.Query(), "x", 0, maxArg, 0); badRequest(w, err) {
					return
				}
			}
			got := tracedGoid(x)
			writeJSON(w, map[string]interface{}{"x": x, "result": got, "goroutine": goid()})
		}},
		{"/shapes/inlined", "main.inlinedCalls", fmt.Sprintf("n=0..%d", maxArg), "addOne, inlined: n calls in a loop and 2 more call sites; answers JSON with the program's own count", func(w http.ResponseWriter, r *http.Request) {
			n, err := intParam(r.URL.Query(), "n", 0, maxArg, 10)
			if badRequest(w, err) {
				return
			}
			writeJSON(w, map[string]interface{}{"n": n, "calls": inlinedCalls(n), "callSites": 3, "inlined": "main.addOne"})
		}},
	}
}

// badRequest answers 400 with err's one line, and says whether it did.
func badRequest(w http.ResponseWriter, err error) bool {
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
	return err != nil
}

func writeJSON(w http.ResponseWriter, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
