package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"
	"unsafe"
)

// event is struct lab_event as bpf2go generated it from the object's BTF.
type event = entryLabEvent

// decode views a ring buffer record as a lab_event (same layout on the host: structs.HostLayout).
func decode(raw []byte) (*event, bool) {
	if len(raw) < int(unsafe.Sizeof(event{})) {
		return nil, false
	}
	return (*event)(unsafe.Pointer(&raw[0])), true
}

var kindNames = map[uint32]string{labEntry: "entry", labReturn: "return", labCall: "call", labExit: "exit"}

// printer writes events as the seed's tracer did (one readable line each) or as JSON lines with
// the tracer API's TraceEvent field names.
type printer struct {
	w         *bufio.Writer
	symbol    string
	json      bool
	lastFlush time.Time
	buf       []byte
}

func newPrinter(w io.Writer, symbol string, json bool) *printer {
	return &printer{w: bufio.NewWriterSize(w, 64<<10), symbol: symbol, json: json}
}

func (p *printer) Flush() {
	p.w.Flush()
	p.lastFlush = time.Now()
}

func (p *printer) Print(e *event) {
	if p.json {
		p.buf = appendJSON(p.buf[:0], e, p.symbol)
	} else {
		p.buf = appendText(p.buf[:0], e, p.symbol)
	}
	p.buf = append(p.buf, '\n')
	p.w.Write(p.buf)
	// Keep lines flowing to a reader that waits for them, without a write per event.
	if e.Kind == labExit || time.Since(p.lastFlush) > 20*time.Millisecond {
		p.Flush()
	}
}

func appendInts(b []byte, vals []int64) []byte {
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, ']')
}

func goString(e *event) string {
	n := int(e.StrLen)
	if n > len(e.Str) {
		n = len(e.Str)
	}
	s := make([]byte, n)
	for i := range s {
		s[i] = byte(e.Str[i])
	}
	return string(s)
}

func appendJSON(b []byte, e *event, symbol string) []byte {
	b = append(b, `{"kind":"`...)
	b = append(b, kindNames[e.Kind]...)
	b = append(b, `","symbol":`...)
	b = strconv.AppendQuote(b, symbol)
	b = append(b, `,"pid":`...)
	b = strconv.AppendUint(b, uint64(e.Pid), 10)
	b = append(b, `,"tid":`...)
	b = strconv.AppendUint(b, uint64(e.Tid), 10)
	b = append(b, `,"goroutine":"0x`...)
	b = strconv.AppendUint(b, e.Goroutine, 16)
	b = append(b, `","ts_ns":`...)
	b = strconv.AppendUint(b, e.TsNs, 10)
	b = append(b, `,"args":`...)
	b = appendInts(b, e.Args[:min(int(e.Nargs), len(e.Args))])
	if e.HasStr != 0 {
		b = append(b, `,"str":`...)
		b = strconv.AppendQuote(b, goString(e))
	}
	b = append(b, `,"ret":`...)
	b = appendInts(b, e.Ret[:min(int(e.Nrets), len(e.Ret))])
	b = append(b, `,"latency_ns":`...)
	if e.HasLatency != 0 {
		b = strconv.AppendUint(b, e.LatencyNs, 10)
	} else {
		b = append(b, `null`...)
	}
	if e.EntryTid != 0 && e.EntryTid != e.Tid {
		b = append(b, `,"entry_tid":`...) // the goroutine moved to another thread mid-call
		b = strconv.AppendUint(b, uint64(e.EntryTid), 10)
	}
	if e.RetSite >= 0 {
		b = append(b, `,"ret_site":`...)
		b = strconv.AppendInt(b, int64(e.RetSite), 10)
	}
	if e.Kind == labExit {
		b = append(b, `,"exit_code":`...)
		b = strconv.AppendInt(b, int64(e.ExitCode), 10)
		b = append(b, `,"signal":`...)
		b = strconv.AppendInt(b, int64(e.Signal), 10)
	}
	return append(b, '}')
}

func appendText(b []byte, e *event, symbol string) []byte {
	switch e.Kind {
	case labExit:
		if e.Signal != 0 {
			return fmt.Appendf(b, "process %d died: killed by signal %d", e.Pid, e.Signal)
		}
		return fmt.Appendf(b, "process %d exited with code %d", e.Pid, e.ExitCode)
	case labEntry:
		b = fmt.Appendf(b, "entry  %s", symbol)
	case labReturn:
		b = fmt.Appendf(b, "return %s", symbol)
	default:
		b = fmt.Appendf(b, "call   %s", symbol)
	}
	b = appendInts(append(b, " args="...), e.Args[:min(int(e.Nargs), len(e.Args))])
	if e.HasStr != 0 {
		b = strconv.AppendQuote(append(b, " str="...), goString(e))
	}
	if e.Kind != labEntry {
		b = appendInts(append(b, " ret="...), e.Ret[:min(int(e.Nrets), len(e.Ret))])
	}
	if e.HasLatency != 0 {
		b = fmt.Appendf(b, " in %v", time.Duration(e.LatencyNs))
	}
	if e.RetSite >= 0 {
		b = fmt.Appendf(b, " at RET #%d", e.RetSite)
	}
	return fmt.Appendf(b, " pid %d tid %d g %#x", e.Pid, e.Tid, e.Goroutine)
}
