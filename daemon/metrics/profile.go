package metrics

import "runtime"

// ProfileMemory leaves Go's heap profiling on only when the profiles can
// be read ([metrics] pprof). Sampling keeps a table of allocation stacks
// that only grows, and its hash table (1.4 MB of address space, a page
// touched per stack) and unwinding the sampled stacks cost about 1 MB of
// resident memory, idle or with 50 apps (bench/README.md).
func ProfileMemory(on bool) {
	if !on {
		runtime.MemProfileRate = 0
	}
}
