package wasmrw

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// DefaultInitialFuel is the fuel budget used when Options.InitialFuel is 0.
const DefaultInitialFuel = 10000

// MaxLocals is the most locals a function body may declare (V8's limit).
// wazero v1.12 preallocates the declared number, so without this bound a
// few bytes of input could make it allocate gigabytes.
const MaxLocals = 50000

// maxPages is the number of 64 KiB pages a 32-bit memory can address.
const maxPages = 65536

// Sentinel errors. Every error Rewrite returns wraps exactly one of them.
var (
	// ErrMalformed reports input that is not a well-formed wasm binary.
	ErrMalformed = errors.New("malformed wasm module")
	// ErrUnsupported reports a well-formed construct the rewriter does not
	// handle (an unknown opcode, memory64, several memories, an imported
	// memory when MaxMemoryPages is set, GC types, a component).
	ErrUnsupported = errors.New("unsupported wasm feature")
	// ErrMemoryTooLarge reports a memory whose declared minimum exceeds
	// Options.MaxMemoryPages.
	ErrMemoryTooLarge = errors.New("memory minimum exceeds the page cap")
	// ErrOptions reports invalid Options.
	ErrOptions = errors.New("invalid rewrite options")
)

// Options selects the transformations Rewrite applies. The zero value changes
// nothing: Rewrite then returns a re-encoded copy of the module.
type Options struct {
	// YieldModule and YieldName, when YieldModule is not empty, turn on fuel
	// instrumentation: the module imports YieldModule.YieldName with type
	// () -> i32, placed after the existing imports so that it becomes
	// function index Result.YieldFuncIndex and every defined function index
	// shifts up by one. A mutable i32 fuel global (Result.FuelGlobalIndex,
	// initialised to InitialFuel) is decremented at every function entry and
	// every loop header; when it drops to 0 or below the guest calls the
	// import and stores the i32 it returns as the new budget. The import is
	// where the host checks its deadline (by panicking or closing the module)
	// and lets the Go scheduler run.
	YieldModule, YieldName string
	// InitialFuel is the fuel global's initial value, in instrumentation
	// sites passed (function entries plus loop iterations). 0 means
	// DefaultInitialFuel; negative values are an error.
	InitialFuel int32
	// FuelGlobalExport, if not empty, exports the fuel global under this
	// name so the host can reset it per call. It requires YieldModule.
	FuelGlobalExport string
	// MaxMemoryPages caps the module's single 32-bit memory: its maximum
	// becomes min(declared maximum, MaxMemoryPages) in 64 KiB pages. A
	// declared minimum above the cap fails with ErrMemoryTooLarge, and an
	// imported memory, several memories or memory64 fail with
	// ErrUnsupported. 0 leaves memories unchanged; values above 65536 act as
	// 65536.
	MaxMemoryPages uint32
	// ExportMutableGlobals exports every mutable global the module defines
	// as "__edged_global_<index>" (for snapshots), unless that global is
	// already exported. The fuel global is not included.
	ExportMutableGlobals bool
}

// Result is the outcome of a successful Rewrite.
type Result struct {
	// Binary is the rewritten module. It does not alias the input.
	Binary []byte
	// FuelGlobalIndex is the fuel global's index in the global index space
	// (after every imported and defined global); 0 when instrumentation is
	// off.
	FuelGlobalIndex uint32
	// YieldFuncIndex is the yield import's index in the function index space
	// (after the other imported functions); 0 when instrumentation is off.
	YieldFuncIndex uint32
	// Loops and Functions count the instrumented sites: loop headers and
	// function entries.
	Loops, Functions int
	// MutableGlobals names every mutable global the module defines with the
	// export it can be reached by, when ExportMutableGlobals is set: the
	// module's own export if it had one, else the one the rewriter added.
	// Snapshots read and restore them.
	MutableGlobals []GlobalExport
}

// GlobalExport is a mutable global and the name it is exported under.
type GlobalExport struct {
	Index uint32
	Name  string
}

// GlobalExportPrefix prefixes the export names ExportMutableGlobals adds; the
// global's index (in decimal) follows.
const GlobalExportPrefix = "__edged_global_"

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank is the required order of non-custom sections (the tag section
// sits between memory and global; data count before code).
var sectionRank = [14]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6, secGlobal: 7,
	secExport: 8, secStart: 9, secElement: 10, secDataCount: 11, secCode: 12, secData: 13,
}

type section struct {
	id   byte
	data []byte
}

var header = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// Rewrite applies o to the binary module wasm and returns the new module.
// It decodes every non-custom section, the name section and every
// instruction of every function body, whatever the options, and rejects
// malformed input with an error wrapping ErrMalformed or ErrUnsupported:
// every vector length is checked against the bytes that remain, which shields
// wazero v1.12's decoder (it preallocates by declared counts) from forged
// modules. It does not fully validate (types, stack shapes, index ranges):
// the engine does that when it compiles the result, and a module it accepted
// before rewriting it accepts after. With the zero Options the result is a
// copy of the input, unless a malformed name section had to be dropped.
// Rewrite never panics, does not modify wasm and is safe for concurrent use.
func Rewrite(wasm []byte, o Options) (Result, error) {
	if err := o.check(); err != nil {
		return Result{}, err
	}
	m, err := split(wasm)
	if err != nil {
		return Result{}, err
	}
	rw := &rewriter{o: o, fuel: o.YieldModule != ""}
	if rw.o.InitialFuel == 0 {
		rw.o.InitialFuel = DefaultInitialFuel
	}
	res, err := rw.run(m)
	if err == nil && o == (Options{}) && !rw.changed {
		// Nothing to change: keep the input's exact encoding (re-encoding
		// would only normalise over-long LEB128s).
		res.Binary = bytes.Clone(wasm)
	}
	return res, err
}

func (o Options) check() error {
	switch {
	case o.InitialFuel < 0:
		return fmt.Errorf("%w: InitialFuel %d is negative", ErrOptions, o.InitialFuel)
	case o.YieldModule == "" && (o.YieldName != "" || o.FuelGlobalExport != ""):
		return fmt.Errorf("%w: YieldName and FuelGlobalExport require YieldModule", ErrOptions)
	case !utf8.ValidString(o.YieldModule) || !utf8.ValidString(o.YieldName) || !utf8.ValidString(o.FuelGlobalExport):
		return fmt.Errorf("%w: names must be valid UTF-8", ErrOptions)
	}
	return nil
}

// split checks the header and cuts the module into sections, checking their
// order.
func split(wasm []byte) ([]section, error) {
	if len(wasm) < len(header) || !bytes.Equal(wasm[:4], header[:4]) {
		return nil, fmt.Errorf("%w: missing \\0asm magic", ErrMalformed)
	}
	if !bytes.Equal(wasm[4:8], header[4:8]) {
		return nil, fmt.Errorf("%w: binary version %x", ErrUnsupported, wasm[4:8])
	}
	r := &reader{buf: wasm, pos: len(header)}
	var secs []section
	last := 0
	for !r.eof() {
		id := r.byte()
		size := r.u32()
		data := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, r.err)
		}
		if int(id) >= len(sectionRank) {
			return nil, fmt.Errorf("%w: unknown section id %d", ErrMalformed, id)
		}
		if id != secCustom {
			rank := sectionRank[id]
			if rank <= last {
				return nil, fmt.Errorf("%w: section %d out of order or repeated", ErrMalformed, id)
			}
			last = rank
		}
		secs = append(secs, section{id, data})
	}
	return secs, nil
}

type rewriter struct {
	o    Options
	fuel bool

	numTypes       uint32
	importedFuncs  uint32
	importedGlobal uint32
	definedGlobals uint32
	definedFuncs   uint32
	mutable        []bool // per defined global
	fuelGlobal     uint32
	yieldFunc      uint32
	fuelSeq        []byte // instrumentation inserted at each site

	changed bool // a section was dropped even though o is the zero value

	exportNames    map[string]bool
	exportedGlobal map[uint32]bool
	globalName     map[uint32]string // first export name of each exported global

	res Result
}

// shiftFunc maps an input function index to its output index.
func (rw *rewriter) shiftFunc(f uint32) uint32 {
	if rw.fuel && f >= rw.importedFuncs {
		return f + 1
	}
	return f
}

// survey reads the counts later sections depend on; it runs before any
// rewriting because custom sections (and so the name section) may come first.
func (rw *rewriter) survey(secs []section) error {
	for _, s := range secs {
		r := &reader{buf: s.data}
		switch s.id {
		case secType:
			rw.numTypes = r.count(1)
		case secImport:
			n := r.count(4)
			for i := uint32(0); i < n && r.err == nil; i++ {
				r.name()
				r.name()
				switch kind := r.byte(); kind {
				case 0x00: // func
					r.u32()
					rw.importedFuncs++
				case 0x01: // table
					r.valType()
					r.limits()
				case 0x02: // memory
					r.limits()
					if rw.o.MaxMemoryPages != 0 && r.err == nil {
						return fmt.Errorf("%w: imported memory cannot be capped", ErrUnsupported)
					}
				case 0x03: // global
					r.valType()
					r.byte()
					rw.importedGlobal++
				case 0x04: // tag
					r.byte()
					r.u32()
				default:
					r.fail("%w: unknown import kind 0x%02x", ErrMalformed, kind)
				}
			}
		case secFunction:
			rw.definedFuncs = r.count(1)
		case secGlobal:
			rw.definedGlobals = r.count(3)
		}
		if r.err != nil {
			return fmt.Errorf("section %d: %w", s.id, r.err)
		}
	}
	if rw.importedFuncs > math.MaxUint32-1-rw.definedFuncs || rw.importedGlobal > math.MaxUint32-1-rw.definedGlobals {
		return fmt.Errorf("%w: too many functions or globals", ErrMalformed)
	}
	return nil
}

// limits decodes table or memory limits and returns them. is64 reports the
// memory64/table64 flag; shared the threads flag.
func (r *reader) limits() (flags byte, min, max uint64, hasMax bool) {
	flags = r.byte()
	if flags > 0x07 && r.err == nil {
		r.fail("%w: limits flags 0x%02x", ErrMalformed, flags)
		return
	}
	bits := uint(32)
	if flags&0x04 != 0 {
		bits = 64
	}
	min = r.uleb(bits)
	if flags&0x01 != 0 {
		max, hasMax = r.uleb(bits), true
	}
	return
}

func (rw *rewriter) run(secs []section) (Result, error) {
	if err := rw.survey(secs); err != nil {
		return Result{}, err
	}
	if rw.fuel {
		rw.yieldFunc = rw.importedFuncs
		rw.fuelGlobal = rw.importedGlobal + rw.definedGlobals
		rw.res.YieldFuncIndex = rw.yieldFunc
		rw.res.FuelGlobalIndex = rw.fuelGlobal
		rw.fuelSeq = fuelSequence(rw.fuelGlobal, rw.yieldFunc)
	}
	// Sections we must add when the input lacks them, by id.
	var missing [14]bool
	if rw.fuel {
		missing[secType], missing[secImport], missing[secGlobal] = true, true, true
	}
	if rw.fuel && rw.o.FuelGlobalExport != "" || rw.o.ExportMutableGlobals {
		missing[secExport] = true
	}

	out := make([]byte, 0, len(header)+len(secs)*8+sizeOf(secs)+sizeOf(secs)/4+64)
	out = append(out, header...)
	emitMissing := func(below int) error {
		for id := range missing {
			if !missing[id] || sectionRank[id] >= below {
				continue
			}
			missing[id] = false
			data, err := rw.section(byte(id), nil)
			if err != nil {
				return err
			}
			if data != nil {
				out = appendSection(out, byte(id), data)
			}
		}
		return nil
	}
	for _, s := range secs {
		if s.id != secCustom {
			if err := emitMissing(sectionRank[s.id]); err != nil {
				return Result{}, err
			}
			missing[s.id] = false
		}
		data, err := rw.section(s.id, s.data)
		if err != nil {
			return Result{}, fmt.Errorf("section %d: %w", s.id, err)
		}
		if data != nil {
			out = appendSection(out, s.id, data)
		}
	}
	if err := emitMissing(math.MaxInt); err != nil {
		return Result{}, err
	}
	rw.res.Binary = out
	return rw.res, nil
}

func sizeOf(secs []section) int {
	n := 0
	for _, s := range secs {
		n += len(s.data)
	}
	return n
}

func appendSection(dst []byte, id byte, data []byte) []byte {
	dst = append(dst, id)
	dst = appendU32(dst, uint32(len(data)))
	return append(dst, data...)
}

// fuelSequence returns the code inserted at each site:
//
//	global.get $fuel; i32.const 1; i32.sub; global.set $fuel
//	global.get $fuel; i32.const 0; i32.le_s
//	if (empty) call $yield; global.set $fuel; end
//
// It leaves the operand stack as it found it, so it is valid anywhere an
// instruction may start, including right after a loop's block type when the
// loop has parameters.
func fuelSequence(fuel, yield uint32) []byte {
	var b []byte
	b = appendU32(append(b, opGlobalGet), fuel)
	b = append(b, opI32Const, 1, opI32Sub)
	b = appendU32(append(b, opGlobalSet), fuel)
	b = appendU32(append(b, opGlobalGet), fuel)
	b = append(b, opI32Const, 0, opI32LeS, opIf, blockEmpty)
	b = appendU32(append(b, opCall), yield)
	b = appendU32(append(b, opGlobalSet), fuel)
	return append(b, opEnd)
}

// section returns the new payload of section id, whose input payload is data
// (nil when the section is being added). A nil result drops the section.
func (rw *rewriter) section(id byte, data []byte) ([]byte, error) {
	switch id {
	case secCustom:
		return rw.custom(data), nil
	case secType:
		return rw.typeSection(data)
	case secImport:
		return rw.importSection(data)
	case secMemory:
		return rw.memorySection(data)
	case secGlobal:
		return rw.globalSection(data)
	case secExport:
		return rw.exportSection(data)
	case secStart:
		return rw.startSection(data)
	case secElement:
		return rw.elementSection(data)
	case secCode:
		return rw.codeSection(data)
	case secFunction, secTable, secTag, secData, secDataCount:
		return data, rw.check(id, data)
	}
	return data, nil
}

func (rw *rewriter) typeSection(data []byte) ([]byte, error) {
	if data == nil {
		return []byte{1, 0x60, 0x00, 0x01, 0x7f}, nil
	}
	r := &reader{buf: data}
	n := r.count(1)
	entries := r.pos
	// Only plain function types keep type index == entry index; GC rec
	// groups would not, and wazero does not run them anyway.
	for i := uint32(0); i < n && r.err == nil; i++ {
		if form := r.byte(); form != 0x60 && r.err == nil {
			return nil, fmt.Errorf("%w: type form 0x%02x", ErrUnsupported, form)
		}
		for range 2 {
			k := r.count(1)
			for j := uint32(0); j < k && r.err == nil; j++ {
				r.valType()
			}
		}
	}
	if r.err == nil && !r.eof() {
		r.fail("%w: trailing bytes", ErrMalformed)
	}
	if r.err != nil {
		return nil, r.err
	}
	if !rw.fuel {
		return data, nil
	}
	if n == math.MaxUint32 {
		return nil, fmt.Errorf("%w: too many types", ErrMalformed)
	}
	out := appendU32(make([]byte, 0, len(data)+8), n+1)
	out = append(out, data[entries:]...)
	return append(out, 0x60, 0x00, 0x01, 0x7f), nil
}

func (rw *rewriter) importSection(data []byte) ([]byte, error) {
	if !rw.fuel {
		return data, nil
	}
	var n uint32
	var rest []byte
	if data != nil {
		r := &reader{buf: data}
		n = r.u32()
		if r.err != nil {
			return nil, r.err
		}
		rest = data[r.pos:]
	}
	out := appendU32(make([]byte, 0, len(data)+len(rw.o.YieldModule)+len(rw.o.YieldName)+16), n+1)
	out = append(out, rest...)
	out = appendName(out, rw.o.YieldModule)
	out = appendName(out, rw.o.YieldName)
	return appendU32(append(out, 0x00), rw.numTypes), nil
}

func (rw *rewriter) memorySection(data []byte) ([]byte, error) {
	if rw.o.MaxMemoryPages == 0 {
		return data, rw.check(secMemory, data)
	}
	r := &reader{buf: data}
	n := r.count(2)
	if n == 0 || r.err != nil {
		return data, r.err
	}
	if n > 1 {
		return nil, fmt.Errorf("%w: %d memories", ErrUnsupported, n)
	}
	flags, min, max, hasMax := r.limits()
	if r.err == nil && !r.eof() {
		r.fail("%w: trailing bytes", ErrMalformed)
	}
	if r.err != nil {
		return nil, r.err
	}
	if flags&0x04 != 0 {
		return nil, fmt.Errorf("%w: memory64", ErrUnsupported)
	}
	limit := uint64(min32(rw.o.MaxMemoryPages, maxPages))
	if min > limit {
		return nil, fmt.Errorf("%w: minimum %d pages, cap %d", ErrMemoryTooLarge, min, limit)
	}
	if !hasMax || max > limit {
		max = limit
	}
	out := appendU32([]byte{1, flags | 0x01}, uint32(min))
	return appendU32(out, uint32(max)), nil
}

func min32(a, b uint32) uint32 {
	if a < b {
		return a
	}
	return b
}

func (rw *rewriter) globalSection(data []byte) ([]byte, error) {
	var n uint32
	body := make([]byte, 0, len(data)+16)
	rw.mutable = rw.mutable[:0]
	if data != nil {
		r := &reader{buf: data}
		n = r.count(3)
		for i := uint32(0); i < n && r.err == nil; i++ {
			start := r.pos
			r.valType()
			mut := r.byte()
			if mut > 1 && r.err == nil {
				r.fail("%w: global mutability 0x%02x", ErrMalformed, mut)
			}
			rw.mutable = append(rw.mutable, mut == 1)
			body = append(body, data[start:r.pos]...)
			body = rw.constExpr(body, r)
		}
		if r.err == nil && !r.eof() {
			r.fail("%w: trailing bytes", ErrMalformed)
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if rw.fuel {
		n++
		body = append(body, 0x7f, 0x01, opI32Const)
		body = appendS64(body, int64(rw.o.InitialFuel))
		body = append(body, opEnd)
	}
	return append(appendU32(make([]byte, 0, len(body)+5), n), body...), nil
}

// constExpr copies a constant expression from r to out, shifting ref.func
// indices, through its terminating end.
func (rw *rewriter) constExpr(out []byte, r *reader) []byte {
	for r.err == nil {
		start := r.pos
		op := r.byte()
		hasFunc, fn := r.instr(op)
		if r.err != nil {
			break
		}
		if hasFunc {
			out = appendU32(append(out, op), rw.shiftFunc(fn))
		} else {
			out = append(out, r.buf[start:r.pos]...)
		}
		if op == opEnd {
			break
		}
	}
	return out
}

// skipConstExpr decodes a constant expression through its end without
// copying it.
func skipConstExpr(r *reader) {
	for r.err == nil {
		if op := r.byte(); r.err == nil {
			r.instr(op)
			if op == opEnd {
				return
			}
		}
	}
}

func (rw *rewriter) exportSection(data []byte) ([]byte, error) {
	rw.exportNames = map[string]bool{}
	rw.exportedGlobal = map[uint32]bool{}
	rw.globalName = map[uint32]string{}
	var n uint32
	var body []byte
	if data != nil {
		r := &reader{buf: data}
		n = r.count(3)
		body = make([]byte, 0, len(data)+16)
		for i := uint32(0); i < n && r.err == nil; i++ {
			start := r.pos
			name := r.name()
			kind := r.byte()
			idxPos := r.pos
			idx := r.u32()
			if r.err != nil {
				break
			}
			rw.exportNames[string(name)] = true
			switch kind {
			case 0x00:
				body = append(body, data[start:idxPos]...)
				body = appendU32(body, rw.shiftFunc(idx))
				continue
			case 0x03:
				rw.exportedGlobal[idx] = true
				if _, ok := rw.globalName[idx]; !ok {
					rw.globalName[idx] = string(name)
				}
			case 0x01, 0x02, 0x04:
			default:
				r.fail("%w: unknown export kind 0x%02x", ErrMalformed, kind)
			}
			body = append(body, data[start:r.pos]...)
		}
		if r.err == nil && !r.eof() {
			r.fail("%w: trailing bytes", ErrMalformed)
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	add := func(name string, global uint32) error {
		if rw.exportNames[name] {
			return fmt.Errorf("%w: export name %q already used", ErrOptions, name)
		}
		rw.exportNames[name] = true
		rw.exportedGlobal[global] = true
		rw.globalName[global] = name
		body = append(appendName(body, name), 0x03)
		body = appendU32(body, global)
		n++
		return nil
	}
	if rw.fuel && rw.o.FuelGlobalExport != "" {
		if err := add(rw.o.FuelGlobalExport, rw.fuelGlobal); err != nil {
			return nil, err
		}
	}
	if rw.o.ExportMutableGlobals {
		for i, mut := range rw.mutable {
			g := rw.importedGlobal + uint32(i)
			if mut && !rw.exportedGlobal[g] {
				if err := add(GlobalExportPrefix+strconv.FormatUint(uint64(g), 10), g); err != nil {
					return nil, err
				}
			}
			if mut {
				rw.res.MutableGlobals = append(rw.res.MutableGlobals, GlobalExport{Index: g, Name: rw.globalName[g]})
			}
		}
	}
	if data == nil && n == 0 {
		return nil, nil
	}
	return append(appendU32(make([]byte, 0, len(body)+5), n), body...), nil
}

func (rw *rewriter) startSection(data []byte) ([]byte, error) {
	r := &reader{buf: data}
	f := r.u32()
	if r.err == nil && !r.eof() {
		r.fail("%w: trailing bytes", ErrMalformed)
	}
	if r.err != nil {
		return nil, r.err
	}
	return appendU32(nil, rw.shiftFunc(f)), nil
}

func (rw *rewriter) elementSection(data []byte) ([]byte, error) {
	r := &reader{buf: data}
	n := r.count(2)
	out := appendU32(make([]byte, 0, len(data)+len(data)/8+8), n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.pos
		flags := r.u32()
		if flags > 7 && r.err == nil {
			r.fail("%w: element segment flags %d", ErrMalformed, flags)
		}
		if r.err != nil {
			break
		}
		// Bit 0: passive or declarative; bit 1: explicit table (active) or
		// declarative (passive); bit 2: expressions instead of indices.
		if flags&0x03 == 0x02 {
			r.u32() // table index
		}
		out = append(out, data[start:r.pos]...)
		if flags&0x01 == 0 {
			out = rw.constExpr(out, r) // offset
		}
		start = r.pos
		if flags&0x03 != 0 {
			if flags&0x04 == 0 {
				if k := r.byte(); k != 0x00 && r.err == nil {
					r.fail("%w: element kind 0x%02x", ErrMalformed, k)
				}
			} else {
				r.valType()
			}
		}
		out = append(out, data[start:r.pos]...)
		k := r.count(1)
		out = appendU32(out, k)
		for j := uint32(0); j < k && r.err == nil; j++ {
			if flags&0x04 == 0 {
				f := r.u32()
				out = appendU32(out, rw.shiftFunc(f))
			} else {
				out = rw.constExpr(out, r)
			}
		}
	}
	if r.err == nil && !r.eof() {
		r.fail("%w: trailing bytes", ErrMalformed)
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

func (rw *rewriter) codeSection(data []byte) ([]byte, error) {
	r := &reader{buf: data}
	n := r.count(2)
	out := make([]byte, 0, len(data)+len(data)/4+64)
	out = appendU32(out, n)
	var body []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		b := r.bytes(int(size))
		if r.err != nil {
			break
		}
		var err error
		body, err = rw.functionBody(body[:0], b)
		if err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if r.err == nil && !r.eof() {
		r.fail("%w: trailing bytes", ErrMalformed)
	}
	if r.err != nil {
		return nil, r.err
	}
	if n != rw.definedFuncs {
		return nil, fmt.Errorf("%w: %d function bodies for %d functions", ErrMalformed, n, rw.definedFuncs)
	}
	if !rw.fuel {
		// Decoded only to check it; nothing changed.
		rw.res.Functions, rw.res.Loops = 0, 0
		return data, nil
	}
	return out, nil
}

// functionBody appends the instrumented body b to out.
func (rw *rewriter) functionBody(out, b []byte) ([]byte, error) {
	r := &reader{buf: b}
	n := r.count(2)
	var locals uint64
	for i := uint32(0); i < n && r.err == nil; i++ {
		locals += uint64(r.u32())
		r.valType()
	}
	if r.err != nil {
		return nil, r.err
	}
	if locals > MaxLocals {
		return nil, fmt.Errorf("%w: %d locals, limit %d", ErrUnsupported, locals, MaxLocals)
	}
	out = append(out, b[:r.pos]...)
	out = append(out, rw.fuelSeq...)
	rw.res.Functions++
	// copied is the start of the input not yet copied to out: unchanged
	// runs of instructions are copied in one append.
	copied := r.pos
	for !r.eof() {
		start := r.pos
		op := r.byte()
		hasFunc, fn := r.instr(op)
		if r.err != nil {
			break
		}
		switch {
		case hasFunc:
			out = append(out, b[copied:start+1]...)
			out = appendU32(out, rw.shiftFunc(fn))
			copied = r.pos
		case op == opLoop:
			out = append(out, b[copied:r.pos]...)
			out = append(out, rw.fuelSeq...)
			copied = r.pos
			rw.res.Loops++
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(b) == 0 || b[len(b)-1] != opEnd {
		return nil, fmt.Errorf("%w: body does not end with end", ErrMalformed)
	}
	return append(out, b[copied:]...), nil
}

// check decodes a section Rewrite does not change, so that every vector
// length in the output has been checked against the input's size: wazero
// v1.12 preallocates by declared counts, and a 30-byte module with a forged
// count made it allocate 25 GB and crash the process.
func (rw *rewriter) check(id byte, data []byte) error {
	r := &reader{buf: data}
	switch id {
	case secFunction:
		n := r.count(1)
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.u32()
		}
	case secTable:
		n := r.count(3)
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.valType()
			r.limits()
		}
	case secMemory:
		n := r.count(2)
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.limits()
		}
	case secTag:
		n := r.count(2)
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.byte()
			r.u32()
		}
	case secDataCount:
		r.u32()
	case secData:
		n := r.count(2)
		for i := uint32(0); i < n && r.err == nil; i++ {
			switch flags := r.u32(); flags {
			case 0:
				skipConstExpr(r)
			case 1:
			case 2:
				r.u32()
				skipConstExpr(r)
			default:
				r.fail("%w: data segment flags %d", ErrMalformed, flags)
			}
			r.bytes(int(r.u32()))
		}
	}
	if r.err == nil && !r.eof() {
		r.fail("%w: trailing bytes", ErrMalformed)
	}
	return r.err
}
