package token

import (
	rtmetrics "runtime/metrics"
	"time"
)

// memoryReporter is the "memory reporter" goroutine: every interval it
// measures the cache, sets the cache gauges and logs one line, until stop
// is closed.
//
// The cache's bytes are counted from what it stores (keys' strings,
// tokens and their precomputed answers), not estimated from the runtime's
// map layout: k8s-athenz-sia read hmap internals through unsafe, which is
// garbage on Go 1.24+ Swiss-table maps. Structs, map, list and allocator
// overhead are therefore not included.
func (p *Provider) memoryReporter(stop <-chan struct{}) {
	p.metrics.cacheSize(p.cache.stats())
	t := time.NewTicker(p.cfg.MemoryReportInterval.Std())
	defer t.Stop()
	for {
		select {
		case <-stop:
			p.log.Info("Stopped memory reporter daemon")
			return
		case <-t.C:
			p.reportMemory()
		}
	}
}

func (p *Provider) reportMemory() {
	s := p.cache.stats()
	p.metrics.cacheSize(s)
	heap, total := runtimeMemory()
	p.log.Info("Token cache size",
		"accesstoken_entries", s.Entries[accessToken], "accesstoken_bytes", s.Bytes[accessToken],
		"roletoken_entries", s.Entries[roleToken], "roletoken_bytes", s.Bytes[roleToken],
		"heap_object_bytes", heap, "process_memory_bytes", total)
}

// runtimeMemory reads the live heap and the memory the Go runtime has
// mapped; a metric the runtime no longer supports reads as 0.
func runtimeMemory() (heap, total uint64) {
	samples := []rtmetrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
	}
	rtmetrics.Read(samples)
	value := func(s rtmetrics.Sample) uint64 {
		if s.Value.Kind() != rtmetrics.KindUint64 {
			return 0
		}
		return s.Value.Uint64()
	}
	return value(samples[0]), value(samples[1])
}
