package isolate

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryPool hands out guest linear memories that live outside the Go heap
// (on platforms that support it). Two reasons: a fresh instance of a small
// guest is dominated by allocating and zeroing its memory on the Go heap, and
// megabytes of guest memory on the heap make every GC scan and pace around
// them. Mappings are reserved at the function's memory cap once and reused:
// growth never copies, and returning a mapping to the pool only discards the
// pages that were touched.
//
// memoryPool is safe for concurrent use.
type memoryPool struct {
	mu   sync.Mutex
	free map[uint64][]*linearMemory // by reserved size
	keep int                        // max free mappings kept per size
}

func newMemoryPool(keep int) *memoryPool {
	return &memoryPool{free: make(map[uint64][]*linearMemory), keep: keep}
}

// allocator returns an experimental.MemoryAllocator that caps every memory at
// capBytes: growth past it fails inside the guest (memory.grow returns -1).
//
// got, when not nil, receives the memory handed out, so that its instance can
// find it (snapshots map their image over it).
func (p *memoryPool) allocator(capBytes uint64, got func(*linearMemory)) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		reserve := capBytes
		if max < reserve {
			reserve = max
		}
		m := p.get(reserve)
		if lm, ok := m.(*linearMemory); ok && got != nil {
			got(lm)
		}
		return m
	})
}

func (p *memoryPool) get(reserve uint64) experimental.LinearMemory {
	p.mu.Lock()
	if l := p.free[reserve]; len(l) > 0 {
		m := l[len(l)-1]
		p.free[reserve] = l[:len(l)-1]
		p.mu.Unlock()
		return m
	}
	p.mu.Unlock()
	m, err := mapMemory(reserve)
	if err != nil {
		// Fall back to the Go heap rather than failing the instance.
		return &heapMemory{max: reserve}
	}
	m.pool = p
	return m
}

func (p *memoryPool) put(m *linearMemory) {
	if err := m.discard(); err != nil {
		m.unmap()
		return
	}
	p.mu.Lock()
	if len(p.free[m.reserved]) < p.keep {
		p.free[m.reserved] = append(p.free[m.reserved], m)
		m = nil
	}
	p.mu.Unlock()
	if m != nil {
		m.unmap()
	}
}

// close unmaps every pooled mapping.
func (p *memoryPool) close() {
	p.mu.Lock()
	free := p.free
	p.free = make(map[uint64][]*linearMemory)
	p.mu.Unlock()
	for _, l := range free {
		for _, m := range l {
			m.unmap()
		}
	}
}

// heapMemory is the portable fallback: a Go slice that grows by copying, with
// the same cap semantics.
type heapMemory struct {
	buf []byte
	max uint64
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	nb := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.max))
	copy(nb, m.buf)
	m.buf = nb
	return nb
}

func (m *heapMemory) Free() { m.buf = nil }
