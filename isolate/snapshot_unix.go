//go:build linux

package isolate

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/tetratelabs/wazero/api"
)

// memoryImage holds snapshot bytes in an unlinked file, to be mapped
// copy-on-write over new instances' memories.
type memoryImage struct {
	f    *os.File
	size int
}

func newMemoryImage(b []byte) (*memoryImage, error) {
	dir := "/dev/shm"
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "edged-snapshot-*")
	if err != nil {
		return nil, err
	}
	// Unlinked at once: the image lives exactly as long as the descriptor.
	_ = os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	return &memoryImage{f: f, size: len(b)}, nil
}

// restore maps the image over the first bytes of the instance's memory. The
// mapping is private: the instance's writes never reach the image or other
// instances. A memory that is not one of ours is filled by copying.
func (img *memoryImage) restore(lm *linearMemory, mem api.Memory) error {
	if lm == nil || len(lm.mem) < img.size {
		b := make([]byte, img.size)
		if _, err := img.f.ReadAt(b, 0); err != nil {
			return err
		}
		if !mem.Write(0, b) {
			return fmt.Errorf("snapshot: memory smaller than the image")
		}
		return nil
	}
	addr := uintptr(unsafe.Pointer(&lm.mem[0]))
	_, _, errno := syscall.Syscall6(syscall.SYS_MMAP, addr, uintptr(img.size),
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_FIXED,
		img.f.Fd(), 0)
	if errno != 0 {
		return fmt.Errorf("snapshot: mmap: %w", errno)
	}
	// The pages now come from the file: this mapping must not go back to
	// the pool of zeroed memories.
	lm.fileBacked = true
	return nil
}

func (img *memoryImage) close() {
	if img != nil && img.f != nil {
		img.f.Close()
	}
}
