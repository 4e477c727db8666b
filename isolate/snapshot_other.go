//go:build !linux

package isolate

import (
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// memoryImage keeps snapshot bytes on the heap where there is no mmap.
type memoryImage struct{ b []byte }

func newMemoryImage(b []byte) (*memoryImage, error) {
	return &memoryImage{b: append([]byte(nil), b...)}, nil
}

func (img *memoryImage) restore(_ *linearMemory, mem api.Memory) error {
	if !mem.Write(0, img.b) {
		return fmt.Errorf("snapshot: memory smaller than the image")
	}
	return nil
}

func (img *memoryImage) close() {}
