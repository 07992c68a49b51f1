// Command cilium-tracer is the lab's reference peer: the seed's tracer (cilium/ebpf,
// link.OpenExecutable(...).Uretprobe, a ringbuf.Reader) grown to the same three modes as the
// Node addon, loading the very same BPF programs (bpf/*.bpf.c, via bpf2go).
//
// It prints "attached …" on stderr once its probes are live, then one line per event (JSON with
// the tracer API's TraceEvent field names under -json). SIGINT/SIGTERM detach and exit.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// The peer traces one symbol, so every link carries the same probe id. The enums, constants and
// the cookie packer (labCookie) are generated from bpf/events.h into constants.gen.go.
const probeID = 1

type options struct {
	binary      string
	symbol      string
	mode        string
	pid         int
	json        bool
	args        int
	rets        int
	stringArg   int
	entryOffset uint64
	retOffsets  []uint64
	benchN      int
	empty       bool
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "cilium-tracer: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var o options
	var offsets string
	flag.StringVar(&o.binary, "binary", "server/server", "Go executable to trace")
	flag.StringVar(&o.symbol, "symbol", "main.demo", "function to probe")
	flag.StringVar(&o.mode, "mode", "uretprobe", "uprobe | uretprobe | ret")
	flag.IntVar(&o.pid, "pid", 0, "trace only this process (0: every process running the binary)")
	flag.BoolVar(&o.json, "json", false, "one JSON TraceEvent per line")
	flag.IntVar(&o.args, "args", 4, "integer argument registers to read (0-9)")
	flag.IntVar(&o.rets, "rets", 1, "integer result registers to read (0-9)")
	flag.IntVar(&o.stringArg, "string-arg", -1, "register slot holding a Go string's pointer (its length in the next)")
	flag.IntVar(&o.benchN, "bench-consume", 0, "benchmark: create the ring buffer, decode this many events from the ring-buffer benchmark's producer, print JSON")
	flag.Uint64Var(&o.entryOffset, "entry-offset", 0, "bytes from the function's start to put the entry probe at (past the stack check, so morestack's restart does not fire it twice)")
	flag.BoolVar(&o.empty, "empty", false, "benchmark baseline: attach an empty program at the same sites instead of the lab's programs (no events)")
	flag.StringVar(&offsets, "ret-offsets", "", "ret mode: comma-separated byte offsets of the function's RET instructions from its start")
	flag.Parse()
	if o.args < 0 || o.args > 9 || o.rets < 0 || o.rets > 9 {
		return o, errors.New("-args and -rets take 0 to 9 registers")
	}
	for _, s := range strings.FieldsFunc(offsets, func(r rune) bool { return r == ',' }) {
		off, err := strconv.ParseUint(strings.TrimSpace(s), 0, 64)
		if err != nil {
			return o, fmt.Errorf("bad -ret-offsets entry %q: want numbers like 0x1f,42", s)
		}
		o.retOffsets = append(o.retOffsets, off)
	}
	switch o.mode {
	case "uprobe", "uretprobe":
	case "ret":
		if len(o.retOffsets) == 0 {
			return o, errors.New("-mode ret needs -ret-offsets (./lab run-tracer --engine cilium computes them)")
		}
	default:
		return o, fmt.Errorf("unknown -mode %q: use uprobe, uretprobe or ret", o.mode)
	}
	return o, nil
}

// cookie packs a link's bpf_cookie: LAB_COOKIE in bpf/events.h, through the generated packer.
func cookie(retSite, mode, nargs, nrets, strSlot int) uint64 {
	return labCookie(cookieFields{Probe: probeID, RetSite: retSite, Mode: mode, Nargs: nargs, Nrets: nrets, StrSlot: strSlot})
}

// programs is the lab's BPF programs loaded into the kernel, sharing one set of maps.
type programs struct {
	entry entryObjects
	ret   retObjects
	exit  exitObjects
	empty emptyObjects
}

func loadPrograms() (*programs, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, err
	}
	p := &programs{}
	if err := loadEntryObjects(&p.entry, nil); err != nil {
		return nil, fmt.Errorf("loading entry.bpf.c: %w", err)
	}
	m := p.entry.entryMaps
	shared := map[string]*ebpf.Map{
		"lab_events": m.LabEvents, "lab_drops": m.LabDrops, "lab_scratch": m.LabScratch,
		"lab_depth": m.LabDepth, "lab_pending": m.LabPending, "lab_watched": m.LabWatched,
	}
	if err := loadRetObjects(&p.ret, &ebpf.CollectionOptions{MapReplacements: shared}); err != nil {
		p.entry.Close()
		return nil, fmt.Errorf("loading ret.bpf.c: %w", err)
	}
	exitShared := map[string]*ebpf.Map{}
	spec, err := loadExit()
	if err != nil {
		return nil, err
	}
	for name, m := range shared {
		if _, ok := spec.Maps[name]; ok {
			exitShared[name] = m
		}
	}
	if err := spec.LoadAndAssign(&p.exit, &ebpf.CollectionOptions{MapReplacements: exitShared}); err != nil {
		p.ret.Close()
		p.entry.Close()
		return nil, fmt.Errorf("loading exit.bpf.c: %w", err)
	}
	if err := loadEmptyObjects(&p.empty, nil); err != nil {
		p.exit.Close()
		p.ret.Close()
		p.entry.Close()
		return nil, fmt.Errorf("loading empty.bpf.c: %w", err)
	}
	return p, nil
}

func (p *programs) Close() {
	p.empty.Close()
	p.exit.Close()
	p.ret.Close()
	p.entry.Close()
}

// attach puts the mode's links on the symbol; the caller closes them.
func attach(o options, p *programs) ([]link.Link, error) {
	ex, err := link.OpenExecutable(o.binary)
	if err != nil {
		return nil, err
	}
	mode := map[string]int{"uprobe": labModeUprobe, "uretprobe": labModeUretprobe, "ret": labModeRet}[o.mode]
	var links []link.Link
	add := func(l link.Link, err error) error {
		if err != nil {
			return err
		}
		links = append(links, l)
		return nil
	}
	closeAll := func(err error) ([]link.Link, error) {
		for _, l := range links {
			l.Close()
		}
		return nil, err
	}
	entryProg, retProg := p.entry.LabEntry, p.ret.LabRet
	if o.empty {
		entryProg, retProg = p.empty.LabEmpty, p.empty.LabEmpty
	}
	entryCookie := cookie(labNoRetSite, mode, o.args, 0, o.stringArg)
	if err := add(ex.Uprobe(o.symbol, entryProg, &link.UprobeOptions{PID: o.pid, Offset: o.entryOffset, Cookie: entryCookie})); err != nil {
		return closeAll(fmt.Errorf("uprobe on %s: %w", o.symbol, err))
	}
	switch mode {
	case labModeUretprobe:
		c := cookie(labNoRetSite, mode, 0, o.rets, -1)
		if err := add(ex.Uretprobe(o.symbol, retProg, &link.UprobeOptions{PID: o.pid, Cookie: c})); err != nil {
			return closeAll(fmt.Errorf("uretprobe on %s: %w", o.symbol, err))
		}
	case labModeRet:
		for i, off := range o.retOffsets {
			c := cookie(i, mode, 0, o.rets, -1)
			if err := add(ex.Uprobe(o.symbol, retProg, &link.UprobeOptions{PID: o.pid, Offset: off, Cookie: c})); err != nil {
				return closeAll(fmt.Errorf("uprobe on RET %d of %s (+%#x): %w", i, o.symbol, off, err))
			}
		}
	}
	if err := add(link.AttachTracing(link.TracingOptions{Program: p.exit.LabExit})); err != nil {
		return closeAll(fmt.Errorf("sched_process_exit: %w", err))
	}
	if o.pid != 0 {
		if err := p.entry.LabWatched.Put(uint32(o.pid), uint8(1)); err != nil {
			return closeAll(err)
		}
	}
	return links, nil
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	if o.benchN > 0 {
		return benchConsume(o.benchN)
	}
	p, err := loadPrograms()
	if err != nil {
		return err
	}
	defer p.Close()
	links, err := attach(o, p)
	if err != nil {
		return err
	}
	defer func() {
		for _, l := range links {
			l.Close()
		}
	}()
	rd, err := ringbuf.NewReader(p.entry.LabEvents)
	if err != nil {
		return err
	}
	defer rd.Close()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	// Detach when whoever started us dies, even by SIGKILL: no probe outlives its tracer.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0); err != nil {
		return err
	}
	target := "every process running it"
	if o.pid != 0 {
		target = fmt.Sprintf("pid %d", o.pid)
	}
	fmt.Fprintf(os.Stderr, "attached %s to %s in %s (%s), %d links (cilium/ebpf)\n", o.mode, o.symbol, o.binary, target, len(links))

	out := newPrinter(os.Stdout, o.symbol, o.json)
	defer out.Flush()
	var rec ringbuf.Record
	stopping := false
	for {
		select {
		case <-stop:
			// Detach first, then read what the probes sent before that: nothing is left behind.
			for _, l := range links {
				l.Close()
			}
			links = nil
			stopping = true
		default:
		}
		// The BPF side skips wake-ups for small amounts of data, so read on a short deadline too.
		rd.SetDeadline(time.Now().Add(10 * time.Millisecond))
		err := rd.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			out.Flush()
			if stopping {
				break // drained
			}
			continue
		}
		if err != nil {
			return err
		}
		e, ok := decode(rec.RawSample)
		if !ok {
			continue
		}
		out.Print(e)
		if e.Kind == labExit && o.pid != 0 && int(e.Pid) == o.pid {
			break // the only traced process is gone
		}
	}
	if n := drops(p.entry.LabDrops); n > 0 {
		fmt.Fprintf(os.Stderr, "dropped %d events (ring buffer full)\n", n)
	}
	return nil
}

// drops sums the per-CPU drop counters of every probe.
func drops(m *ebpf.Map) uint64 {
	var total uint64
	var key uint32
	var perCPU []uint64
	it := m.Iterate()
	for it.Next(&key, &perCPU) {
		for _, n := range perCPU {
			total += n
		}
	}
	return total
}
