package limits

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Resolver looks up the addresses of a host name. *net.Resolver satisfies
// it; tests pass a fake that maps names to chosen addresses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// maxRedirects bounds redirect chains independently of the budget, as
// net/http's default policy does.
const maxRedirects = 10

// Client performs a guest's outbound HTTP requests under one Egress policy.
//
// Every request and every redirect is checked with Egress.Allowed and takes
// one unit of the invocation's Budget. Names are resolved inside the dialer,
// every resolved address is checked with CheckAddr, and the connection goes
// to the checked address, so a second lookup cannot rebind the name (no DNS
// rebinding). Environment proxies are ignored. Each subrequest is bounded by
// SubrequestTimeout and its response body by MaxSubrequestBody.
//
// A Client is safe for concurrent use and meant to be reused across
// invocations: it keeps a pool of keep-alive connections, which Close
// releases. Create it with NewClient.
type Client struct {
	egress    Egress
	resolver  Resolver
	dialer    net.Dialer
	transport *http.Transport
	// connect dials an address that has passed every check (an IP literal
	// and port). It is dialer.DialContext except in tests, which use it to
	// observe the address and stay on loopback.
	connect func(ctx context.Context, network, addr string) (net.Conn, error)
	client  *http.Client
}

// budgetKey carries the *Budget of one Do call to CheckRedirect.
type budgetKey struct{}

// NewClient returns a Client for e (after e.WithDefaults). A nil r means
// net.DefaultResolver.
func NewClient(e Egress, r Resolver) *Client {
	if r == nil {
		r = net.DefaultResolver
	}
	e.Allow = slices.Clone(e.Allow) // the caller may reuse its slice
	c := &Client{
		egress:   e.WithDefaults(),
		resolver: r,
		dialer:   net.Dialer{KeepAlive: 30 * time.Second},
	}
	c.connect = c.dialer.DialContext
	c.transport = &http.Transport{
		Proxy:                 nil, // never route through $HTTP_PROXY: the policy is about the real destination
		DialContext:           c.dial,
		ForceAttemptHTTP2:     true, // a custom DialContext would otherwise disable HTTP/2
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
	c.client = &http.Client{
		Transport:     c.transport,
		CheckRedirect: c.checkRedirect,
	}
	return c
}

// Egress returns the policy of c, with defaults applied.
func (c *Client) Egress() Egress { return c.egress }

// Do sends req under the policy. In order it checks req.URL with
// Egress.Allowed (an error wrapping ErrEgressDenied), takes one unit of b
// (ErrSubrequestBudget), then sends the request with ctx bounded by
// SubrequestTimeout. Redirects are followed up to 10 deep, each one checked
// and counted like the first request. Refused addresses give an error
// wrapping ErrPrivateAddress; a timeout gives one matching
// context.DeadlineExceeded. req is not modified; ctx replaces its context.
// A nil b means a fresh budget of Egress.MaxSubrequests for this call only.
//
// The response body is capped: reading more than MaxSubrequestBody bytes
// returns an error wrapping ErrBodyTooLarge. The caller must close it; the
// subrequest timeout keeps running until then.
func (c *Client) Do(ctx context.Context, req *http.Request, b *Budget) (*http.Response, error) {
	if req == nil || req.URL == nil {
		return nil, errors.New("limits: Do with a nil request or URL")
	}
	if _, err := c.egress.Allowed(req.URL); err != nil {
		return nil, err
	}
	if b == nil {
		b = NewBudget(c.egress.MaxSubrequests)
	}
	if err := b.Take(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.egress.SubrequestTimeout)
	ctx = context.WithValue(ctx, budgetKey{}, b)
	resp, err := c.client.Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: int64(c.egress.MaxSubrequestBody), cancel: cancel}
	return resp, nil
}

// Close releases idle keep-alive connections. In-flight requests are not
// affected; the Client stays usable. Safe to call more than once.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if _, err := c.egress.Allowed(req.URL); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	b, _ := req.Context().Value(budgetKey{}).(*Budget)
	if b == nil {
		return errors.New("limits: redirect outside Client.Do")
	}
	if err := b.Take(); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	return nil
}

// dial is the transport's DialContext. addr is the host:port of the URL
// being fetched (the transport fills in the default port). It re-derives
// which patterns allowed that host and port rather than trusting state
// passed from Do, so a pooled or racing dial cannot be checked against the
// wrong pattern.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", addr, err)
	}
	var matched []Pattern
	for _, p := range c.egress.Allow {
		if p.Port() == uint16(port) && p.matchHost(host) {
			matched = append(matched, p)
		}
	}
	if len(matched) == 0 {
		return nil, fmt.Errorf("dial %q: %w", addr, ErrEgressDenied)
	}

	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		lookup := "ip"
		switch network {
		case "tcp4":
			lookup = "ip4"
		case "tcp6":
			lookup = "ip6"
		}
		ips, err = c.resolver.LookupNetIP(ctx, lookup, host)
		if err != nil {
			return nil, fmt.Errorf("dial %q: %w", addr, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("dial %q: no addresses", addr)
		}
	}
	// Every address must pass, not just the one we end up using: a mix of
	// public and private answers is the signature of a rebinding attempt.
	for _, ip := range ips {
		if err := checkAny(matched, ip); err != nil {
			return nil, fmt.Errorf("dial %q: %w", addr, err)
		}
	}
	var lastErr error
	for _, ip := range ips {
		conn, err := c.connect(ctx, network, netip.AddrPortFrom(ip.Unmap().WithZone(""), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// checkAny returns nil if any of the patterns accepts ip.
func checkAny(ps []Pattern, ip netip.Addr) error {
	var err error
	for _, p := range ps {
		if err = CheckAddr(p, ip); err == nil {
			return nil
		}
	}
	return err
}

// cappedBody caps a response body and ends the subrequest's context on Close.
type cappedBody struct {
	rc     io.ReadCloser
	left   int64 // bytes still allowed
	over   bool
	once   sync.Once
	cancel context.CancelFunc
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.over {
		return 0, fmt.Errorf("subrequest response: %w", ErrBodyTooLarge)
	}
	if b.left <= 0 {
		// At the cap: the body is fine if it ends here, too large if not.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			b.over = true
			return 0, fmt.Errorf("subrequest response: %w", ErrBodyTooLarge)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error {
	err := b.rc.Close()
	b.once.Do(b.cancel)
	return err
}
