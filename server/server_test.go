package main

import (
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
