package limits

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	name := mustPattern(t, "https://api.example.com")
	wild := mustPattern(t, "https://*.example.com")
	lo := mustPattern(t, "http://127.0.0.1:9000")
	lo6 := mustPattern(t, "http://[::1]:9000")
	meta := mustPattern(t, "http://169.254.169.254")
	tests := []struct {
		name    string
		pattern Pattern
		ip      string
		refused bool
	}{
		{"public v4", name, "93.184.216.34", false},
		{"public v6", name, "2606:2800:220:1:248:1893:25c8:1946", false},
		{"public v4 mapped", name, "::ffff:93.184.216.34", false},
		{"public 6to4", name, "2002:5db8:d822::1", false},
		{"loopback", name, "127.0.0.1", true},
		{"loopback other", name, "127.255.0.9", true},
		{"loopback v6", name, "::1", true},
		{"loopback mapped", name, "::ffff:127.0.0.1", true},
		{"loopback compat", name, "::127.0.0.1", true},
		{"rfc1918 10", name, "10.1.2.3", true},
		{"rfc1918 172.16", name, "172.16.0.1", true},
		{"rfc1918 172.31", name, "172.31.255.255", true},
		{"not rfc1918 172.32", name, "172.32.0.1", false},
		{"rfc1918 192.168", name, "192.168.1.1", true},
		{"rfc1918 mapped", name, "::ffff:10.0.0.1", true},
		{"ula", name, "fd00::1", true},
		{"ula fc", name, "fc00::1", true},
		{"link-local", name, "169.254.1.1", true},
		{"cloud metadata", name, "169.254.169.254", true},
		{"cloud metadata mapped", name, "::ffff:169.254.169.254", true},
		{"cloud metadata wildcard", wild, "169.254.169.254", true},
		{"link-local v6", name, "fe80::1", true},
		{"link-local v6 zone", name, "fe80::1%eth0", true},
		{"site-local v6", name, "fec0::1", true},
		{"unspecified", name, "0.0.0.0", true},
		{"this network", name, "0.1.2.3", true},
		{"unspecified v6", name, "::", true},
		{"multicast", name, "224.0.0.1", true},
		{"multicast v6", name, "ff02::1", true},
		{"broadcast", name, "255.255.255.255", true},
		{"reserved", name, "240.0.0.1", true},
		{"cgnat", name, "100.64.0.1", true},
		{"cgnat top", name, "100.127.255.255", true},
		{"not cgnat", name, "100.128.0.1", false},
		{"ietf", name, "192.0.0.8", true},
		{"benchmark", name, "198.19.0.1", true},
		{"nat64 loopback", name, "64:ff9b::7f00:1", true},
		{"nat64 public", name, "64:ff9b::5db8:d822", false},
		{"6to4 private", name, "2002:0a00:0001::1", true},
		{"invalid", name, "", true},

		{"exact literal unlocks loopback", lo, "127.0.0.1", false},
		{"literal unlocks mapped form", lo, "::ffff:127.0.0.1", false},
		{"literal does not unlock neighbour", lo, "127.0.0.2", true},
		{"literal v6 unlocks", lo6, "::1", false},
		{"literal v4 does not unlock v6", lo, "::1", true},
		{"literal metadata unlocks", meta, "169.254.169.254", false},
		{"literal still allows public", lo, "8.8.8.8", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ip netip.Addr
			if tc.ip != "" {
				ip = netip.MustParseAddr(tc.ip)
			}
			err := CheckAddr(tc.pattern, ip)
			if (err != nil) != tc.refused {
				t.Fatalf("CheckAddr(%v, %v) = %v, want refused=%v", tc.pattern, tc.ip, err, tc.refused)
			}
			if err != nil && (!errors.Is(err, ErrPrivateAddress) || !errors.Is(err, ErrEgressDenied)) {
				t.Errorf("CheckAddr(%v, %v) = %v, want ErrPrivateAddress and ErrEgressDenied", tc.pattern, tc.ip, err)
			}
		})
	}
}

func TestErrPrivateAddressIsEgressDenied(t *testing.T) {
	if !errors.Is(ErrPrivateAddress, ErrEgressDenied) {
		t.Errorf("errors.Is(ErrPrivateAddress, ErrEgressDenied) = false, want true")
	}
	if errors.Is(ErrEgressDenied, ErrPrivateAddress) {
		t.Errorf("errors.Is(ErrEgressDenied, ErrPrivateAddress) = true, want false")
	}
}

func TestEgressAllowed(t *testing.T) {
	e := Egress{Allow: []Pattern{
		mustPattern(t, "https://api.example.com"),
		mustPattern(t, "https://*.example.com"),
		mustPattern(t, "http://127.0.0.1:9000"),
	}}
	tests := []struct {
		name string
		url  string
		want string // matched pattern; "" = denied
	}{
		{"first wins", "https://api.example.com/x", "https://api.example.com"},
		{"wildcard", "https://cdn.example.com/x", "https://*.example.com"},
		{"ip", "http://127.0.0.1:9000/", "http://127.0.0.1:9000"},
		{"wrong port", "http://127.0.0.1:9001/", ""},
		{"wrong scheme", "http://api.example.com/", ""},
		{"other host", "https://example.org/", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.Allowed(mustURL(t, tc.url))
			if tc.want == "" {
				if !errors.Is(err, ErrEgressDenied) || !strings.Contains(err.Error(), tc.url) {
					t.Errorf("Allowed(%q) = %v, %v, want ErrEgressDenied naming the URL", tc.url, p, err)
				}
				return
			}
			if err != nil || p.String() != tc.want {
				t.Errorf("Allowed(%q) = %v, %v, want %v", tc.url, p, err, tc.want)
			}
		})
	}
	if _, err := e.Allowed(nil); !errors.Is(err, ErrEgressDenied) {
		t.Errorf("Allowed(nil) = %v, want ErrEgressDenied", err)
	}
	var deny Egress
	if _, err := deny.Allowed(mustURL(t, "https://api.example.com")); !errors.Is(err, ErrEgressDenied) {
		t.Errorf("zero Egress: Allowed = %v, want ErrEgressDenied", err)
	}
	_, err := e.Allowed(mustURL(t, "https://u:secret@example.org/"))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Allowed error %q leaks the password", err)
	}
}

func TestEgressWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Egress
		want Egress
	}{
		{"deny all", Egress{}, Egress{SubrequestTimeout: 5 * time.Second, MaxSubrequestBody: MiB}},
		{"allow gets 8", Egress{Allow: []Pattern{{scheme: "https", host: "a.test"}}},
			Egress{MaxSubrequests: 8, SubrequestTimeout: 5 * time.Second, MaxSubrequestBody: MiB}},
		{"explicit kept", Egress{Allow: []Pattern{{scheme: "https", host: "a.test"}}, MaxSubrequests: 2, SubrequestTimeout: time.Second, MaxSubrequestBody: KiB},
			Egress{MaxSubrequests: 2, SubrequestTimeout: time.Second, MaxSubrequestBody: KiB}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.WithDefaults()
			got.Allow = nil
			if got.MaxSubrequests != tc.want.MaxSubrequests || got.SubrequestTimeout != tc.want.SubrequestTimeout ||
				got.MaxSubrequestBody != tc.want.MaxSubrequestBody {
				t.Errorf("WithDefaults() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
