package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestEndpoints(t *testing.T) {
	srv := httptest.NewServer(newMux())
	defer srv.Close()
	cases := []struct{ path, want string }{
		{"/?arg=42", "demo(42) = 42"},
		{"/?arg=2000", "demo(2000) = 2000"},
		{"/gc?arg=10", "scanDuringGC(10) = 45"},
		{"/panic?arg=3", "recovered: panicThrough(3)"},
		{"/recover?arg=4", "recoverInside(4) = 8"},
		{"/callers?arg=1", ".countCallers\n"},
		{"/stack?arg=1", ".stackTrace\n"},
		{"/inline?arg=3", "addOne(3) = 4, square = 9, squareFunc = 9"},
		{"/hop?arg=1", "hopThreads(1) moved threads: "},
		{"/classify?arg=7", "classify(7) = odd"},
		{"/classify?arg=0", "classify(0) = zero"},
		{"/classify?arg=2000", "classify(2000) = even"},
		{"/classify?arg=1001", "classify(1001) = unknown"},
		{"/words?s=hello+go+world", `wordStats("hello go world") = 3 words, 4 vowels`},
		{"/endpoints", "main.scanDuringGC"},
	}
	for _, c := range cases {
		code, body := get(t, srv, c.path)
		if code != 200 || !strings.Contains(body, c.want) {
			t.Errorf("GET %s = %d %q, want 200 containing %q", c.path, code, body, c.want)
		}
	}
}

func TestCallersSeesTheHandler(t *testing.T) {
	names := countCallers(0)
	if len(names) < 3 || !strings.HasSuffix(names[0], ".countCallers") || !strings.HasSuffix(names[1], ".TestCallersSeesTheHandler") {
		t.Fatalf("countCallers = %v", names)
	}
}

func TestBadInputIs400(t *testing.T) {
	srv := httptest.NewServer(newMux())
	defer srv.Close()
	for _, path := range []string{"/", "/?arg=", "/?arg=abc", "/?arg=-1", "/?arg=99999999999999999999", "/?arg=10001", "/gc?arg=x", "/words?s=" + strings.Repeat("a", 5000)} {
		code, body := get(t, srv, path)
		if code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", path, code)
		}
		if strings.Count(strings.TrimSpace(body), "\n") != 0 || len(body) < 10 {
			t.Errorf("GET %s: want a one-line reason, got %q", path, body)
		}
	}
	if code, _ := get(t, srv, "/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

func TestListingCarriesTheTriggers(t *testing.T) {
	srv := httptest.NewServer(newMux())
	defer srv.Close()
	code, body := get(t, srv, "/endpoints.json")
	var l listingJSON
	if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil {
		t.Fatalf("GET /endpoints.json = %d %v: %q", code, err, body)
	}
	ids := map[string]triggerJSON{}
	for _, tr := range l.Triggers {
		if _, dup := ids[tr.ID]; dup || tr.ID == "" || tr.Title == "" || !strings.HasPrefix(tr.Symbol, "main.") {
			t.Errorf("bad or duplicate trigger %+v", tr)
		}
		ids[tr.ID] = tr
		// Every trigger's request is served (the matrix's unprobed run must succeed).
		if code, body := get(t, srv, tr.Path); code != 200 {
			t.Errorf("trigger %s: GET %s = %d %q", tr.ID, tr.Path, code, body)
		}
	}
	if ids["stack-growth"].Path != "/?arg=2000" || ids["thread-hop"].Varies == "" || len(ids) < 8 {
		t.Errorf("triggers = %+v", l.Triggers)
	}
	if len(l.Shapes) < 8 || len(l.Endpoints) < 10 {
		t.Errorf("shapes = %+v, endpoints = %+v", l.Shapes, l.Endpoints)
	}
	for _, s := range l.Shapes {
		if _, isTrigger := ids[s.Path]; isTrigger || !strings.HasPrefix(s.Path, "/shapes/") {
			t.Errorf("shape %+v", s)
		}
	}
}

func TestShapes(t *testing.T) {
	srv := httptest.NewServer(newMux())
	defer srv.Close()
	cases := []struct{ path, want string }{
		{"/shapes/bool?n=7", "isEven(7) = false\n"},
		{"/shapes/bool?n=-4", "isEven(-4) = true\n"},
		{"/shapes/int64?v=9223372036854775807", "echo64(9223372036854775807) = 9223372036854775807\n"},
		{"/shapes/int64?v=-5", "echo64(-5) = -5\n"},
		{"/shapes/error?fail=0", "mayFail(false) = nil\n"},
		{"/shapes/error?fail=1", `mayFail(true) = *main.shapeError("shape error 42")` + "\n"},
		{"/shapes/float?x=1.5&k=3", "scale(1.5, 3) = 4.5\n"},
		{"/shapes/long?n=100", "wordStats(100 bytes, "},
		{"/shapes/long?n=1048576", "wordStats(1048576 bytes, "},
	}
	for _, c := range cases {
		if code, body := get(t, srv, c.path); code != 200 || !strings.HasPrefix(body, c.want) {
			t.Errorf("GET %s = %d %q, want 200 starting %q", c.path, code, body, c.want)
		}
	}
	for _, path := range []string{"/shapes/int64?v=9223372036854775808", "/shapes/error?fail=2", "/shapes/float?x=inf&k=1", "/shapes/long?n=1048577", "/shapes/recurse?depth=1001", "/shapes/recurse?depth=3&panicAt=4", "/shapes/recurse?depth=3&goroutines=65", "/shapes/inlined?n=x"} {
		if code, _ := get(t, srv, path); code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", path, code)
		}
	}
	var inl struct{ N, Calls int }
	getJSON(t, srv, "/shapes/inlined?n=10", &inl)
	if inl.Calls != 12 {
		t.Errorf("inlined calls = %+v, want 12", inl)
	}
	var g struct{ X, Result, Goroutine int }
	getJSON(t, srv, "/shapes/goid?x=5", &g)
	if g.Goroutine <= 0 || g.Result != g.Goroutine+5 {
		t.Errorf("goid = %+v", g)
	}
}

func getJSON(t *testing.T, srv *httptest.Server, path string, v interface{}) {
	t.Helper()
	code, body := get(t, srv, path)
	if err := json.Unmarshal([]byte(body), v); code != 200 || err != nil {
		t.Fatalf("GET %s = %d %v: %q", path, code, err, body)
	}
}

func TestDescendReportsUnwoundAndRecoveredCalls(t *testing.T) {
	srv := httptest.NewServer(newMux())
	defer srv.Close()
	var r struct{ Goroutines []descentJSON }
	getJSON(t, srv, "/shapes/recurse?depth=4&panicAt=1&recoverAt=3&goroutines=3", &r)
	want := []descendCall{{1, 0, true}, {2, 0, true}, {3, -3, false}, {4, -2, false}}
	seen := map[int64]bool{}
	for _, d := range r.Goroutines {
		if d.Result == nil || *d.Result != -2 || d.Escaped || fmt.Sprint(d.Calls) != fmt.Sprint(want) || seen[d.Goroutine] {
			t.Errorf("descent %+v, want result -2 and calls %v on its own goroutine", d, want)
		}
		seen[d.Goroutine] = true
	}
	if len(r.Goroutines) != 3 {
		t.Errorf("%d goroutines, want 3", len(r.Goroutines))
	}
	getJSON(t, srv, "/shapes/recurse?depth=2&panicAt=0", &r)
	if d := r.Goroutines[0]; !d.Escaped || d.Result != nil || len(d.Calls) != 3 || !d.Calls[2].Unwound {
		t.Errorf("an unrecovered panic: %+v", d)
	}
	getJSON(t, srv, "/shapes/recurse?depth=3", &r)
	if d := r.Goroutines[0]; *d.Result != 3 || len(d.Calls) != 4 {
		t.Errorf("no panic: %+v", d)
	}
}

func TestDeepRequestsAreLimited(t *testing.T) {
	srv := httptest.NewServer(newMux())
	defer srv.Close()
	for i := 0; i < maxDeep; i++ {
		deepSlots <- struct{}{}
	}
	code, body := get(t, srv, "/?arg=2000")
	codeCheap, _ := get(t, srv, "/?arg=5")
	for i := 0; i < maxDeep; i++ {
		<-deepSlots
	}
	if code != http.StatusServiceUnavailable || strings.Count(strings.TrimSpace(body), "\n") != 0 {
		t.Errorf("deep request with every slot taken = %d %q, want a one-line 503", code, body)
	}
	if codeCheap != 200 {
		t.Errorf("cheap request with every slot taken = %d, want 200", codeCheap)
	}
	if code, _ := get(t, srv, "/?arg=2000"); code != 200 {
		t.Errorf("deep request with slots free = %d", code)
	}
}
