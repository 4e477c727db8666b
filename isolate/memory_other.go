//go:build !linux

package isolate

import "errors"

// linearMemory is unused off Linux: memories live on the Go heap.
type linearMemory struct {
	mem        []byte
	reserved   uint64
	pool       *memoryPool
	fileBacked bool
}

func mapMemory(uint64) (*linearMemory, error) { return nil, errors.New("no mmap") }

func (m *linearMemory) Reallocate(uint64) []byte { return nil }
func (m *linearMemory) Free()                    {}
func (m *linearMemory) discard() error           { return nil }
func (m *linearMemory) unmap()                   {}
