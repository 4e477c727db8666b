package isolate

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// A snapshot makes fresh instances of guests with a language runtime cheap.
// A standard Go guest spends milliseconds in _initialize (the Go runtime's
// start-up: heap, scheduler, package init) before it can serve. edged runs
// _initialize once, when the function loads, and records the result: the
// linear memory and every mutable global (exported by the rewriter for this
// purpose). A new instance is then instantiated without running _initialize
// and set to the recorded state: on Linux the memory is a private
// copy-on-write mapping of the recorded bytes, so restoring costs one mmap
// whatever the size, and an instance copies only the pages it writes.
//
// The trade-off, as with Wizer: everything _initialize computed is shared by
// every instance, including random seeds the runtime drew at start-up (Go's
// map hash seed, for one). Values a guest draws per request (crypto/rand,
// the clocks) stay fresh. FunctionOptions.DisableSnapshot turns this off.
type snapshot struct {
	features uint32        // enabled while initialising (enable_features)
	pages    uint32        // memory size in pages
	globals  []savedGlobal // mutable globals to restore
	image    *memoryImage  // the memory bytes
}

type savedGlobal struct {
	name  string
	value uint64
}

// takeSnapshot instantiates the function once, running its initialisation
// function (_initialize, or a command's _start), and records its state.
func (f *Function) takeSnapshot(ctx context.Context) (*snapshot, error) {
	inst, err := f.newInstance(ctx)
	if err != nil {
		return nil, err
	}
	defer inst.close(ctx)
	mem := inst.mod.Memory()
	size := mem.Size()
	b, ok := mem.Read(0, size)
	if !ok {
		return nil, fmt.Errorf("snapshot: cannot read %d bytes of memory", size)
	}
	img, err := newMemoryImage(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	s := &snapshot{features: inst.initFeatures, pages: size / 65536, image: img}
	for _, ge := range f.globals {
		g := inst.mod.ExportedGlobal(ge.Name)
		if g == nil {
			img.close()
			return nil, fmt.Errorf("snapshot: global %d is not exported", ge.Index)
		}
		s.globals = append(s.globals, savedGlobal{name: ge.Name, value: g.Get()})
	}
	return s, nil
}

// restore sets a just-instantiated (never run) instance to the snapshot.
func (s *snapshot) restore(inst *instance) error {
	mem := inst.mod.Memory()
	if cur := mem.Size() / 65536; cur < s.pages {
		if _, ok := mem.Grow(s.pages - cur); !ok {
			return fmt.Errorf("snapshot: grow memory to %d pages", s.pages)
		}
	}
	if err := s.image.restore(inst.lm, mem); err != nil {
		return err
	}
	for _, g := range s.globals {
		mg, ok := inst.mod.ExportedGlobal(g.name).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("snapshot: global %s is not mutable", g.name)
		}
		mg.Set(g.value)
	}
	inst.initFeatures |= s.features
	inst.features = inst.initFeatures
	return nil
}

func (s *snapshot) close() {
	if s != nil {
		s.image.close()
	}
}
