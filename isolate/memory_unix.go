//go:build linux

package isolate

import "syscall"

// linearMemory is a guest memory backed by a private anonymous mapping
// reserved at the cap. The kernel supplies zeroed pages on first touch, so
// growth is just a longer slice over the same mapping.
type linearMemory struct {
	mem      []byte // the whole reservation
	size     uint64 // bytes handed to wazero so far (high-water mark)
	reserved uint64
	pool     *memoryPool
	// fileBacked is set once a snapshot image is mapped over the memory:
	// discarding its pages would bring back the image, not zeroes.
	fileBacked bool
}

func mapMemory(reserve uint64) (*linearMemory, error) {
	if reserve == 0 {
		return &linearMemory{}, nil
	}
	b, err := syscall.Mmap(-1, 0, int(reserve),
		syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	return &linearMemory{mem: b, reserved: reserve}, nil
}

// Reallocate implements experimental.LinearMemory.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.reserved {
		return nil
	}
	if size > m.size {
		m.size = size
	}
	return m.mem[:size:size]
}

// Free implements experimental.LinearMemory: the mapping goes back to the
// pool with its touched pages discarded.
func (m *linearMemory) Free() {
	if m.pool != nil && !m.fileBacked {
		m.pool.put(m)
		return
	}
	m.unmap()
}

// discard drops the pages the guest may have touched, so that the next user
// sees zeroes as wasm requires. Small memories are cleared in place, which is
// cheaper than a syscall plus page faults on the next touch.
func (m *linearMemory) discard() error {
	if m.size == 0 {
		return nil
	}
	if m.size <= 128<<10 {
		clear(m.mem[:m.size])
		m.size = 0
		return nil
	}
	err := syscall.Madvise(m.mem[:m.size], syscall.MADV_DONTNEED)
	m.size = 0
	return err
}

func (m *linearMemory) unmap() {
	if m.mem != nil {
		_ = syscall.Munmap(m.mem)
		m.mem = nil
	}
}
