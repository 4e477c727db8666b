package kvstore

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/idempotency"
)

func TestRecordRoundTrip(t *testing.T) {
	deadline := time.UnixMilli(1_700_000_000_123)
	resps := []struct {
		name string
		r    *idempotency.StoredResponse
	}{
		{"no headers, empty body", &idempotency.StoredResponse{StatusCode: 204}},
		{"headers and body", &idempotency.StoredResponse{StatusCode: 201, Header: []idempotency.StoredHeader{
			{Name: []byte("Content-Type"), Value: []byte("application/json")},
			{Name: []byte("X-Empty"), Value: nil},
		}, Body: []byte(`{"ok":true}`)}},
	}
	for _, tc := range resps {
		t.Run(tc.name, func(t *testing.T) {
			v := appendCompleted(nil, fpA, tc.r)
			if len(v) != completedSize(tc.r) {
				t.Errorf("encoded %d bytes, completedSize says %d", len(v), completedSize(tc.r))
			}
			rec, err := decodeRecord(v)
			if err != nil || rec.kind != kindCompleted || rec.fp != fpA || !sameResponse(rec.resp, tc.r) {
				t.Errorf("decoded %+v, %v; want %+v", rec, err, tc.r)
			}
		})
	}
	t.Run("claim", func(t *testing.T) {
		rec, err := decodeRecord(appendClaim(nil, fpB, "node-a", deadline))
		if err != nil || rec.kind != kindClaim || rec.fp != fpB || rec.node != "node-a" || !rec.deadline.Equal(deadline) {
			t.Errorf("decoded %+v, %v", rec, err)
		}
	})
	t.Run("long node name is cut", func(t *testing.T) {
		rec, err := decodeRecord(appendClaim(nil, fpB, strings.Repeat("n", 300), deadline))
		if err != nil || len(rec.node) != MaxNodeLength {
			t.Errorf("node of %d bytes, %v; want %d", len(rec.node), err, MaxNodeLength)
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		for _, r := range []*idempotency.StoredResponse{
			{StatusCode: 0}, {StatusCode: 1000},
			{StatusCode: 200, Header: []idempotency.StoredHeader{{Name: make([]byte, 1<<16)}}},
		} {
			if n := completedSize(r); n != -1 {
				t.Errorf("completedSize(status %d) = %d, want -1", r.StatusCode, n)
			}
		}
	})
}

func TestRecordMalformed(t *testing.T) {
	good := appendCompleted(nil, fpA, &idempotency.StoredResponse{StatusCode: 200,
		Header: []idempotency.StoredHeader{{Name: []byte("A"), Value: []byte("b")}}, Body: []byte("body")})
	claim := appendClaim(nil, fpA, "n", time.Unix(1, 0))
	tests := []struct {
		name string
		v    []byte
	}{
		{"empty", nil},
		{"short head", good[:10]},
		{"other version", append([]byte{9}, good[1:]...)},
		{"unknown kind", append([]byte{recordVersion, 7}, good[2:]...)},
		{"truncated completed", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"truncated claim", claim[:len(claim)-1]},
		{"claim trailing byte", append(append([]byte{}, claim...), 0)},
		{"header count beyond the value", func() []byte {
			v := append([]byte{}, good...)
			v[headLen+2], v[headLen+3] = 0xff, 0xff
			return v
		}()},
		{"status 0", func() []byte {
			v := append([]byte{}, good...)
			v[headLen], v[headLen+1] = 0, 0
			return v
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if rec, err := decodeRecord(tc.v); err == nil {
				t.Errorf("decodeRecord = %+v, want an error", rec)
			}
		})
	}
}

// FuzzDecodeRecord: any value decodes to an error or to a record that
// encodes back to the same bytes (the format has one spelling per record).
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendClaim(nil, fpA, "node", time.UnixMilli(42)))
	f.Add(appendCompleted(nil, fpB, &idempotency.StoredResponse{StatusCode: 201,
		Header: []idempotency.StoredHeader{{Name: []byte("X"), Value: []byte("y")}}, Body: []byte("z")}))
	f.Add([]byte{recordVersion, kindCompleted})
	f.Fuzz(func(t *testing.T, v []byte) {
		rec, err := decodeRecord(v)
		if err != nil {
			return
		}
		var again []byte
		switch rec.kind {
		case kindClaim:
			again = appendClaim(nil, rec.fp, rec.node, rec.deadline)
		case kindCompleted:
			if completedSize(rec.resp) != len(v) {
				t.Fatalf("completedSize = %d for a %d-byte value", completedSize(rec.resp), len(v))
			}
			again = appendCompleted(nil, rec.fp, rec.resp)
		default:
			t.Fatalf("decoded kind %d", rec.kind)
		}
		if !bytes.Equal(again, v) {
			t.Fatalf("re-encoded %x, want %x", again, v)
		}
	})
}
