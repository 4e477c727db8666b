package wasmrw

// This file decodes instructions. Decoding must know the immediates of every
// opcode, because the only way to find the next instruction (and so every
// loop, call and ref.func) is to skip the current one exactly. An opcode we do
// not know is an error: guessing its length could make us miss a loop and
// leave a back-edge without a fuel check.

// Opcodes whose immediates we rewrite or act on.
const (
	opLoop       = 0x03
	opIf         = 0x04
	opEnd        = 0x0b
	opCall       = 0x10
	opReturnCall = 0x12
	opI32Const   = 0x41
	opI32Sub     = 0x6b
	opI32LeS     = 0x4c
	opGlobalGet  = 0x23
	opGlobalSet  = 0x24
	opRefFunc    = 0xd2
	blockEmpty   = 0x40
)

// valType decodes a value type: a one-byte type, or (ref null? ht) from the
// typed function references proposal.
func (r *reader) valType() {
	switch b := r.byte(); b {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69:
	case 0x63, 0x64:
		r.heapType()
	default:
		if r.err == nil {
			r.fail("%w: unknown value type 0x%02x", ErrUnsupported, b)
		}
	}
}

// heapType decodes a heap type: a negative single-byte abstract type or a
// non-negative type index, both as s33.
func (r *reader) heapType() { r.sleb(33) }

// blockType decodes a block type: empty (0x40), a value type, or an s33 type
// index.
func (r *reader) blockType() {
	switch b := r.peek(); {
	case r.err != nil:
	case b == blockEmpty:
		r.pos++
	case b == 0x63 || b == 0x64 || b&0xc0 == 0x40:
		// A single byte with bit 6 set and no continuation is a negative s33:
		// a value type.
		r.valType()
	default:
		if r.sleb(33) < 0 && r.err == nil {
			r.fail("%w: negative block type index", ErrMalformed)
		}
	}
}

// memarg decodes a memory immediate: alignment (with bit 6 announcing an
// explicit memory index, multi-memory) and a 64-bit offset (memory64).
func (r *reader) memarg() {
	if align := r.u32(); align&0x40 != 0 {
		r.u32()
	}
	r.uleb(64)
}

// instr decodes the instruction whose opcode op has just been read and skips
// its immediates. For call, return_call and ref.func it returns hasFunc and
// the function index, which starts right after the one-byte opcode.
func (r *reader) instr(op byte) (hasFunc bool, fn uint32) {
	switch {
	case op <= 0x01: // unreachable, nop
	case op >= 0x02 && op <= 0x04, op == 0x06: // block, loop, if, try
		r.blockType()
	case op == 0x05, op == 0x0a, op == 0x0b, op == 0x0f, op == 0x19, op == 0x1a, op == 0x1b:
		// else, throw_ref, end, return, catch_all, drop, select
	case op == 0x07, op == 0x08: // catch, throw: tag index
		r.u32()
	case op == 0x09, op == 0x0c, op == 0x0d, op == 0x18, op == 0xd5, op == 0xd6:
		// rethrow, br, br_if, delegate, br_on_null, br_on_non_null: label
		r.u32()
	case op == 0x0e: // br_table
		n := r.count(1)
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.u32()
		}
		r.u32()
	case op == opCall, op == opReturnCall, op == opRefFunc:
		return true, r.u32()
	case op == 0x11, op == 0x13: // call_indirect, return_call_indirect
		r.u32()
		r.u32()
	case op == 0x14, op == 0x15: // call_ref, return_call_ref: type index
		r.u32()
	case op == 0x1c: // select t*
		n := r.count(1)
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.valType()
		}
	case op == 0x1f: // try_table
		r.blockType()
		n := r.count(2)
		for i := uint32(0); i < n && r.err == nil; i++ {
			switch kind := r.byte(); kind {
			case 0x00, 0x01: // catch, catch_ref: tag, label
				r.u32()
				r.u32()
			case 0x02, 0x03: // catch_all, catch_all_ref: label
				r.u32()
			default:
				r.fail("%w: unknown catch clause 0x%02x", ErrMalformed, kind)
			}
		}
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f, op == 0x40: // memory.size, memory.grow: memory index
		r.u32()
	case op == opI32Const:
		r.sleb(32)
	case op == 0x42: // i64.const
		r.sleb(64)
	case op == 0x43: // f32.const
		r.bytes(4)
	case op == 0x44: // f64.const
		r.bytes(8)
	case op >= 0x45 && op <= 0xc4: // numeric and sign extension: no immediates
	case op == 0xd0: // ref.null
		r.heapType()
	case op == 0xd1, op == 0xd4: // ref.is_null, ref.as_non_null
	case op == 0xfc:
		r.miscInstr()
	case op == 0xfd:
		r.simdInstr()
	case op == 0xfe:
		r.atomicInstr()
	default:
		r.fail("%w: unknown opcode 0x%02x", ErrUnsupported, op)
	}
	return false, 0
}

// miscInstr decodes the 0xFC prefix: saturating truncation, bulk memory and
// table instructions.
func (r *reader) miscInstr() {
	switch sub := r.u32(); {
	case r.err != nil:
	case sub <= 7: // trunc_sat
	case sub == 8: // memory.init data mem
		r.u32()
		r.u32()
	case sub == 9: // data.drop
		r.u32()
	case sub == 10: // memory.copy mem mem
		r.u32()
		r.u32()
	case sub == 11: // memory.fill mem
		r.u32()
	case sub == 12, sub == 14: // table.init elem table, table.copy table table
		r.u32()
		r.u32()
	case sub == 13, sub == 15, sub == 16, sub == 17: // elem.drop, table.grow/size/fill
		r.u32()
	default:
		r.fail("%w: unknown opcode 0xfc %d", ErrUnsupported, sub)
	}
}

// simdNoImm marks the SIMD opcodes 0x0E-0xFF that take no immediates; the
// gaps are unassigned opcodes.
var simdUnassigned = [256]bool{
	0x9a: true, 0xa2: true, 0xa5: true, 0xa6: true, 0xaf: true, 0xb0: true,
	0xb2: true, 0xb3: true, 0xb4: true, 0xbb: true, 0xc2: true, 0xc5: true,
	0xc6: true, 0xcf: true, 0xd0: true, 0xd2: true, 0xd3: true, 0xd4: true,
	0xe2: true, 0xee: true,
}

// simdInstr decodes the 0xFD prefix (fixed-width SIMD and relaxed SIMD).
func (r *reader) simdInstr() {
	switch sub := r.u32(); {
	case r.err != nil:
	case sub <= 11, sub == 92, sub == 93: // loads, store, load_zero
		r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load/store lane
		r.memarg()
		r.byte()
	case sub <= 0xff && !simdUnassigned[sub]:
		// all the rest of 14-255 have no immediates
	case sub >= 0x100 && sub <= 0x113: // relaxed SIMD
	default:
		r.fail("%w: unknown opcode 0xfd %d", ErrUnsupported, sub)
	}
}

// atomicInstr decodes the 0xFE prefix (threads).
func (r *reader) atomicInstr() {
	switch sub := r.u32(); {
	case r.err != nil:
	case sub <= 2, sub >= 0x10 && sub <= 0x4e: // notify, wait, loads, stores, rmw
		r.memarg()
	case sub == 3: // atomic.fence
		if b := r.byte(); b != 0 && r.err == nil {
			r.fail("%w: atomic.fence flags 0x%02x", ErrMalformed, b)
		}
	default:
		r.fail("%w: unknown opcode 0xfe %d", ErrUnsupported, sub)
	}
}
