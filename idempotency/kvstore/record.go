package kvstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/edged/edged/idempotency"
)

// A value in the bucket is one record: a claim (the key's request is running
// on Node until Deadline) or a completed response. The layout is binary and
// length-prefixed, so decoding never scans for delimiters and rejects any
// value whose lengths do not add up to exactly its size:
//
//	version  1 byte (recordVersion)
//	kind     1 byte (kindClaim or kindCompleted)
//	fp       32 bytes, the request's fingerprint
//	claim:     deadline 8 bytes (Unix ms, big-endian), node length 1 byte, node
//	completed: status 2 bytes, header count 2 bytes,
//	           per header: name length 2 bytes, name, value length 4 bytes, value;
//	           body length 4 bytes, body
//
// The bucket is written only by edged nodes, but a record is still decoded as
// untrusted input: a corrupt or foreign value is an error, never a panic or
// an allocation sized by the value.
const (
	recordVersion = 1
	kindClaim     = 1
	kindCompleted = 2

	headLen = 2 + 32
	// claimFixed is a claim's size without its node name.
	claimFixed = headLen + 8 + 1
	// completedFixed is a completed record's size without headers and body.
	completedFixed = headLen + 2 + 2 + 4
	// perHeader is the framing of one header field.
	perHeader = 2 + 4
	// MaxNodeLength is the longest node name a claim records; longer names
	// are cut (the name is for people reading the bucket, not for decisions).
	MaxNodeLength = math.MaxUint8
)

var errRecord = errors.New("kvstore: malformed record")

// record is a decoded value. For a completed record, resp's slices point
// into the value it was decoded from.
type record struct {
	kind     byte
	fp       [32]byte
	deadline time.Time // claim
	node     string    // claim
	resp     *idempotency.StoredResponse
}

// appendClaim appends the claim record of fp held by node until deadline.
func appendClaim(dst []byte, fp [32]byte, node string, deadline time.Time) []byte {
	if len(node) > MaxNodeLength {
		node = node[:MaxNodeLength]
	}
	dst = append(dst, recordVersion, kindClaim)
	dst = append(dst, fp[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(deadline.UnixMilli()))
	dst = append(dst, byte(len(node)))
	return append(dst, node...)
}

// completedSize is the encoded size of r, or -1 if r cannot be encoded (a
// field too long for its length prefix, or a status outside 100-999).
func completedSize(r *idempotency.StoredResponse) int {
	if len(r.Header) > math.MaxUint16 || r.StatusCode < 100 || r.StatusCode > 999 ||
		uint64(len(r.Body)) > math.MaxUint32 {
		return -1
	}
	n := completedFixed + len(r.Body)
	for _, h := range r.Header {
		if len(h.Name) > math.MaxUint16 || uint64(len(h.Value)) > math.MaxUint32 {
			return -1
		}
		n += perHeader + len(h.Name) + len(h.Value)
	}
	return n
}

// appendCompleted appends the completed record of fp answered by r; the
// caller checked completedSize(r) >= 0.
func appendCompleted(dst []byte, fp [32]byte, r *idempotency.StoredResponse) []byte {
	dst = append(dst, recordVersion, kindCompleted)
	dst = append(dst, fp[:]...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(r.StatusCode))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.Header)))
	for _, h := range r.Header {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.Name)))
		dst = append(dst, h.Name...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.Body)))
	return append(dst, r.Body...)
}

// decodeRecord parses v. A completed record's response shares v's bytes, so
// v must not be modified afterwards.
func decodeRecord(v []byte) (record, error) {
	var rec record
	if len(v) < headLen || v[0] != recordVersion {
		return rec, errRecord
	}
	rec.kind = v[1]
	copy(rec.fp[:], v[2:headLen])
	rest := v[headLen:]
	switch rec.kind {
	case kindClaim:
		if len(rest) < claimFixed-headLen {
			return rec, errRecord
		}
		rec.deadline = time.UnixMilli(int64(binary.BigEndian.Uint64(rest)))
		n := int(rest[8])
		if len(rest) != 9+n {
			return rec, errRecord
		}
		rec.node = string(rest[9:])
		return rec, nil
	case kindCompleted:
		resp, err := decodeResponse(rest)
		rec.resp = resp
		return rec, err
	}
	return rec, fmt.Errorf("%w: kind %d", errRecord, rec.kind)
}

// decodeResponse parses the part of a completed record after its head. The
// header list is sized by the count only after the count is checked against
// the bytes left, so a forged count cannot make it allocate more than the
// value's own size.
func decodeResponse(b []byte) (*idempotency.StoredResponse, error) {
	if len(b) < completedFixed-headLen {
		return nil, errRecord
	}
	r := &idempotency.StoredResponse{StatusCode: int(binary.BigEndian.Uint16(b))}
	count := int(binary.BigEndian.Uint16(b[2:]))
	b = b[4:]
	if r.StatusCode < 100 || r.StatusCode > 999 || count*perHeader > len(b) {
		return nil, errRecord
	}
	if count > 0 {
		r.Header = make([]idempotency.StoredHeader, 0, count)
	}
	for range count {
		if len(b) < 2 {
			return nil, errRecord
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n+4 {
			return nil, errRecord
		}
		name := b[2 : 2+n : 2+n]
		b = b[2+n:]
		m := binary.BigEndian.Uint32(b)
		if uint64(len(b)-4) < uint64(m) {
			return nil, errRecord
		}
		r.Header = append(r.Header, idempotency.StoredHeader{Name: name, Value: b[4 : 4+m : 4+m]})
		b = b[4+m:]
	}
	if len(b) < 4 {
		return nil, errRecord
	}
	m := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) != uint64(m) {
		return nil, errRecord
	}
	r.Body = b[4:]
	return r, nil
}
