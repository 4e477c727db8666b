// Package shadow compares the answers of legacy and of an isolate to the same
// request, as the shadow stage of a migration does: the JSON diff, the ignore
// paths and the learnt noise. It imports only the standard library (no
// fasthttp, no router): the router extracts status, headers and bodies and
// hands them over, and internal/config checks ignore paths with the same
// parser the comparison uses.
//
// # Bodies and ignore paths
//
// CompareBodies compares two bodies. When both are a JSON object or array
// they are compared structurally: member order and white space do not matter,
// numbers compare by value ("1.0" equals "1"), and the first difference is
// named by its position ("$.users[2].email"). Anything else is compared as
// bytes. An ignore Path (ParsePath, ValidatePath) leaves positions out of the
// comparison: "$" followed by ".name", ".*" (any member), "[N]" or "[*]" (every
// element), as in "$.items[*].id". CompareHeader compares one header's values
// and redacts credentials and cookies. Differing values are truncated, so a
// difference can be kept and shown.
//
// # Noise
//
// After Twitter's Diffy, some mirrors of safe requests ask legacy a second
// time; what differs between legacy's two answers (timestamps, request ids)
// is noise, not a mismatch. AppendBodyNoise and AppendHeaderNoise list those
// differences, normalised so that one field of every array element counts
// once ("$.items[*].seen"), and a Noise learns them (Observe) and is consulted
// by CompareBodies and CompareHeader. A Noise is bounded (64 entries, the
// least seen evicted first) and safe for concurrent use; Sample picks which
// mirrors ask legacy twice. Status codes are never noise.
package shadow
