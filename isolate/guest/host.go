//go:build wasip1

package guest

// Features is the http-wasm feature bit set.
type Features uint32

const (
	// FeatureBufferRequest buffers the request body on the host so that the
	// upstream can read it after the function did.
	FeatureBufferRequest Features = 1
	// FeatureBufferResponse buffers the upstream's response so that a
	// response hook can change its status, headers and body.
	FeatureBufferResponse Features = 2
	// FeatureTrailers is HTTP trailers, which edged does not support.
	FeatureTrailers Features = 4
)

// EnableFeatures asks the host to enable f and returns every feature now
// enabled. Called from init it applies to every request; called from a
// handler, only to the current one (on top of those enabled in init).
func EnableFeatures(f Features) Features {
	return Features(hostEnableFeatures(uint32(f)))
}

// ABIVersion returns the version of the edged host module (2 for the ABI this
// SDK was written against; 1 on a host without Publish).
func ABIVersion() int { return int(hostABIVersion()) }

// Config returns the function's configuration, the `config` value of its
// [functions.NAME] table, as the host passes it (get_config). It is empty
// when none was set. Each call returns a new slice.
func Config() []byte {
	b := hostRead(hostGetConfig)
	return append([]byte(nil), b...)
}

// Secret returns the value of the named secret and true, or "" and false when
// the secret does not exist or is not granted to this function: the host
// makes the two cases indistinguishable on purpose.
func Secret(name string) (string, bool) {
	b := rt.scratch
	n := hostSecretGet(name, ptr(b), uint32(len(b)))
	if n < 0 {
		return "", false
	}
	if int(n) > len(b) {
		b = make([]byte, n)
		n = hostSecretGet(name, ptr(b), uint32(len(b)))
		if n < 0 || int(n) > len(b) {
			return "", false
		}
	}
	return string(b[:n]), true
}
