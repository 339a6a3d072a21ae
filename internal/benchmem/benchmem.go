// Package benchmem measures the peak memory of a benchmark: the Go heap, sampled every
// 5 ms without stopping the world, and the process's peak resident set (Linux).
package benchmem

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Peak is one measurement; Heap and RSS (bytes) are set by Stop.
type Peak struct {
	Heap, RSS uint64
	rssReset  bool
	stop      chan struct{}
	done      sync.WaitGroup
}

// Start collects garbage, resets the process's peak RSS and starts sampling the heap.
func Start() *Peak {
	runtime.GC()
	p := &Peak{stop: make(chan struct{})}
	// Writing 5 to clear_refs resets the peak resident set size (Linux).
	p.rssReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		for {
			metrics.Read(samples)
			p.Heap = max(p.Heap, samples[0].Value.Uint64()+samples[1].Value.Uint64())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Stop ends the measurement and reads the peak RSS (left 0 where it cannot be known).
func (p *Peak) Stop() {
	close(p.stop)
	p.done.Wait()
	if p.rssReset {
		p.RSS = peakRSS()
	}
}

// peakRSS is VmHWM of /proc/self/status, or 0.
func peakRSS() uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
			if err == nil {
				return n << 10
			}
		}
	}
	return 0
}

// Report reports heap and rss (bytes) as the metrics peak-heap-MB and peak-rss-MB, the
// latter only when known.
func Report(b *testing.B, heap, rss uint64) {
	b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MB")
	if rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB")
	}
}
