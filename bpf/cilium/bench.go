package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// processCPUTime is this process's CPU time so far (every thread: the reader and the Go runtime).
func processCPUTime() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// benchConsume is the cilium/ebpf side of the ring-buffer benchmark: it creates the lab's
// lab_events and lab_drops maps (from the same object spec as the probes), says "ready pid N",
// and decodes `want` events through a ringbuf.Reader while the ring-buffer benchmark's producer (./lab bench) fills it.
func benchConsume(want int) error {
	if err := rlimit.RemoveMemlock(); err != nil {
		return err
	}
	spec, err := loadEntry()
	if err != nil {
		return err
	}
	var maps []*ebpf.Map
	for _, name := range []string{"lab_events", "lab_drops"} {
		m, err := ebpf.NewMap(spec.Maps[name])
		if err != nil {
			return fmt.Errorf("creating %s: %w", name, err)
		}
		defer m.Close()
		maps = append(maps, m)
	}
	rd, err := ringbuf.NewReader(maps[0])
	if err != nil {
		return err
	}
	defer rd.Close()
	fmt.Fprintf(os.Stderr, "ready pid %d\n", os.Getpid())

	var rec ringbuf.Record
	var got, outOfOrder int
	var first, last time.Time
	var firstCPU time.Duration
	var next int64
	idle := time.Now()
	for got < want {
		rd.SetDeadline(time.Now().Add(10 * time.Millisecond))
		err := rd.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if got > 0 && time.Since(idle) > 5*time.Second {
				break // the producer stopped short: report what arrived
			}
			continue
		}
		if err != nil {
			return err
		}
		e, ok := decode(rec.RawSample)
		if !ok {
			outOfOrder++
			continue
		}
		if got == 0 {
			first, firstCPU = time.Now(), processCPUTime()
		} else if e.Args[0] != next {
			outOfOrder++
		}
		next = e.Args[0] + 1
		got++
		idle = time.Now()
	}
	last = time.Now()
	return json.NewEncoder(os.Stdout).Encode(map[string]int64{
		"events": int64(got), "ns": last.Sub(first).Nanoseconds(), "cpu_ns": int64(processCPUTime() - firstCPU), "out_of_order": int64(outOfOrder),
	})
}
