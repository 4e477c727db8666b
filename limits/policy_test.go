package limits

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyWithDefaults(t *testing.T) {
	got := Policy{}.WithDefaults()
	want := Policy{
		Timeout: time.Second, Memory: 64 * MiB, MaxRequestBody: MiB, MaxResponseBody: MiB, MaxLogBytes: 64 * KiB,
		Egress: Egress{SubrequestTimeout: 5 * time.Second, MaxSubrequestBody: MiB},
	}
	if got.Timeout != want.Timeout || got.Memory != want.Memory || got.MaxRequestBody != want.MaxRequestBody ||
		got.MaxResponseBody != want.MaxResponseBody || got.MaxLogBytes != want.MaxLogBytes ||
		got.Egress.MaxSubrequests != 0 || got.Egress.SubrequestTimeout != want.Egress.SubrequestTimeout ||
		got.Egress.MaxSubrequestBody != want.Egress.MaxSubrequestBody {
		t.Errorf("Policy{}.WithDefaults() = %+v, want %+v", got, want)
	}
	set := Policy{Timeout: 2 * time.Second, Memory: 128 * KiB, MaxLogBytes: 10}
	if got := set.WithDefaults(); got.Timeout != set.Timeout || got.Memory != set.Memory || got.MaxLogBytes != 10 {
		t.Errorf("WithDefaults() = %+v, changed explicit fields of %+v", got, set)
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		in   Policy
		want []string // substrings of the joined error; nil = valid
	}{
		{"zero is valid", Policy{}, nil},
		{"explicit valid", Policy{Timeout: time.Millisecond, Memory: WasmPageSize, MaxRequestBody: 1}, nil},
		{"max memory", Policy{Memory: 4 * GiB}, nil},
		{"negative timeout", Policy{Timeout: -1}, []string{"timeout: must be > 0"}},
		{"memory too small", Policy{Memory: 1000}, []string{"memory: must be at least 64KiB"}},
		{"memory negative", Policy{Memory: -1}, []string{"memory: must be at least"}},
		{"memory too big", Policy{Memory: 4*GiB + WasmPageSize}, []string{"memory: must be at most 4GiB"}},
		{"every problem", Policy{
			Timeout: -time.Second, Memory: 1, MaxRequestBody: -1, MaxResponseBody: -1, MaxLogBytes: -1,
			Egress: Egress{Allow: []Pattern{{}}, MaxSubrequests: -1, SubrequestTimeout: -1, MaxSubrequestBody: -1},
		}, []string{
			"timeout:", "memory:", "max_request_body: must be > 0", "max_response_body:", "max_log_bytes:",
			"max_subrequests: must be >= 0", "subrequest_timeout:", "max_subrequest_body:", "allowed_hosts[0]: empty pattern",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			if tc.want == nil {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if lines := strings.Count(err.Error(), "\n") + 1; lines != len(tc.want) {
				t.Errorf("Validate() reported %d problems, want %d: %q", lines, len(tc.want), err)
			}
		})
	}
}

func TestPolicyMemoryPages(t *testing.T) {
	tests := []struct {
		name string
		mem  Size
		want uint32
	}{
		{"default", 0, 1024},
		{"one page", 64 * KiB, 1},
		{"rounds down", 64*KiB + 65535, 1},
		{"16MiB", 16 * MiB, 256},
		{"decimal", 16 * MB, 244},
		{"max", 4 * GiB, 65536},
		{"over max capped", 8 * GiB, 65536},
		{"negative", -1, 0},
		{"below a page", 100, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Policy{Memory: tc.mem}).MemoryPages(); got != tc.want {
				t.Errorf("Policy{Memory: %v}.MemoryPages() = %d, want %d", tc.mem, got, tc.want)
			}
		})
	}
}
