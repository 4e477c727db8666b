package isolate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
)

type netipAddr = netip.Addr

func lookupStatic(m map[string]string, host string) ([]netip.Addr, error) {
	if ip, ok := m[host]; ok {
		return []netip.Addr{netip.MustParseAddr(ip)}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	return nil, fmt.Errorf("lookup %s: no such host", host)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
