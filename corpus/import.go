package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxImportBytes bounds what an importer reads from one file, and so the
// memory a HAR file (decoded whole) takes.
const MaxImportBytes = 256 << 20

// maxGorPayload bounds one GoReplay payload (a request or a response).
const maxGorPayload = 64 << 20

// ImportHAR reads a HAR 1.2 file (browsers' and proxies' "Save as HAR") and
// calls emit with each entry as a record of route. An entry that is not a
// valid record (a relative URL, a bad base64 body) is passed to skip with its
// index and skipped. At most MaxImportBytes are read. An error of emit stops
// the import and is returned.
func ImportHAR(r io.Reader, route string, emit func(*Record) error, skip func(i int, err error)) error {
	var har struct {
		Log struct {
			Entries []json.RawMessage `json:"entries"`
		} `json:"log"`
	}
	lr := &io.LimitedReader{R: r, N: MaxImportBytes + 1}
	if err := json.NewDecoder(lr).Decode(&har); err != nil {
		return fmt.Errorf("HAR: %w", err)
	}
	if lr.N <= 0 {
		return fmt.Errorf("HAR: over %d bytes", MaxImportBytes)
	}
	for i, raw := range har.Log.Entries {
		var e Entry
		if err := json.Unmarshal(raw, &e); err != nil {
			skip(i, err)
			continue
		}
		rec := &Record{Version: Version, Route: route, Stage: "imported", Time: e.StartedDateTime.UTC(),
			Entry: e, Latency: Latency{LegacyMS: max(e.Time, 0)}}
		normalize(&rec.Entry)
		if err := rec.Validate(); err != nil {
			skip(i, err)
			continue
		}
		if err := emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// normalize gives nil lists the empty values HAR 1.2 requires.
func normalize(e *Entry) {
	for _, h := range []*[]NameValue{&e.Request.Headers, &e.Request.QueryString, &e.Response.Headers} {
		if *h == nil {
			*h = []NameValue{}
		}
	}
	if e.Request.Cookies == nil {
		e.Request.Cookies = []Cookie{}
	}
	if e.Response.Cookies == nil {
		e.Response.Cookies = []Cookie{}
	}
}

// gorSeparator ends every GoReplay payload.
const gorSeparator = "\n\U0001F435\U0001F648\U0001F649\n"

// ImportGor reads a GoReplay file (`gor --output-file`): payloads of type 1
// (a request) and 2 (the original response) are paired by their id and each
// pair becomes a record of route; type 3 (a replayed response) is ignored. A
// payload that does not parse, or a request whose response never comes, is
// passed to skip with its index among the payloads. At most MaxImportBytes
// are read. An error of emit stops the import and is returned.
func ImportGor(r io.Reader, route string, emit func(*Record) error, skip func(i int, err error)) error {
	br := bufio.NewReader(io.LimitReader(r, MaxImportBytes))
	type pending struct {
		i   int
		rec *Record
	}
	reqs := map[string]pending{}
	for i := 0; ; i++ {
		payload, err := readGorPayload(br)
		if errors.Is(err, io.EOF) && len(payload) == 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			skip(i, err)
			if errors.Is(err, errGorTooBig) {
				continue
			}
			return err
		}
		kind, id, at, latency, body, perr := parseGorHeader(payload)
		if perr != nil {
			skip(i, perr)
			continue
		}
		switch kind {
		case '1':
			rec, err := gorRequest(body, route, at)
			if err != nil {
				skip(i, err)
				continue
			}
			if len(reqs) >= maxGorPending {
				skip(i, errors.New("too many requests waiting for their response"))
				continue
			}
			reqs[id] = pending{i, rec}
		case '2':
			p, ok := reqs[id]
			if !ok {
				skip(i, fmt.Errorf("response %s without its request", id))
				continue
			}
			delete(reqs, id)
			resp, err := gorResponse(body, p.rec.Entry.Request.Method)
			if err != nil {
				skip(i, err)
				continue
			}
			p.rec.Entry.Response = resp
			p.rec.Latency.LegacyMS = ms(latency)
			p.rec.Entry.Time = ms(latency)
			p.rec.Entry.Timings = Timings{Send: -1, Wait: ms(latency), Receive: -1}
			if err := p.rec.Validate(); err != nil {
				skip(p.i, err)
				continue
			}
			if err := emit(p.rec); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	for _, p := range reqs {
		skip(p.i, errors.New("request without a response"))
	}
	return nil
}

// maxGorPending bounds the requests held while their responses are awaited.
const maxGorPending = 100_000

var errGorTooBig = fmt.Errorf("payload over %d bytes", maxGorPayload)

// readGorPayload reads up to the next separator (which it drops).
func readGorPayload(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		line, err := br.ReadSlice('\n')
		buf = append(buf, line...)
		if len(buf) > maxGorPayload+len(gorSeparator) {
			// Skip to the next separator without keeping the bytes.
			for err == nil || errors.Is(err, bufio.ErrBufferFull) {
				buf = append(buf[:0], buf[len(buf)-min(len(buf), len(gorSeparator)):]...)
				if bytes.HasSuffix(buf, []byte(gorSeparator)) {
					return nil, errGorTooBig
				}
				line, err = br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			return nil, errGorTooBig
		}
		if bytes.HasSuffix(buf, []byte(gorSeparator)) {
			return buf[:len(buf)-len(gorSeparator)], nil
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return buf, io.EOF
		default:
			return nil, err
		}
	}
}

// parseGorHeader splits "TYPE ID TIMESTAMP [LATENCY]\n" from the payload.
func parseGorHeader(p []byte) (kind byte, id string, at time.Time, latency time.Duration, body []byte, err error) {
	line, body, ok := bytes.Cut(p, []byte("\n"))
	if !ok {
		return 0, "", at, 0, nil, errors.New("no GoReplay header line")
	}
	f := strings.Fields(string(line))
	if len(f) < 3 || len(f[0]) != 1 || f[0][0] < '1' || f[0][0] > '3' || f[1] == "" {
		return 0, "", at, 0, nil, fmt.Errorf("bad GoReplay header %q", truncateString(string(line), 80))
	}
	ns, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || ns < 0 {
		return 0, "", at, 0, nil, fmt.Errorf("bad GoReplay timestamp %q", truncateString(f[2], 40))
	}
	if len(f) > 3 {
		if l, err := strconv.ParseInt(f[3], 10, 64); err == nil && l >= 0 {
			latency = time.Duration(l)
		}
	}
	return f[0][0], f[1], time.Unix(0, ns).UTC(), latency, body, nil
}

func gorRequest(raw []byte, route string, at time.Time) (*Record, error) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxGorPayload))
	if err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	host := req.Host
	if host == "" {
		host = "localhost"
	}
	hdr := []NameValue{{Name: "Host", Value: host}}
	hdr = append(hdr, headerPairs(req.Header)...)
	rec := &Record{Version: Version, Route: route, Stage: "imported", Time: at}
	rec.Entry.StartedDateTime = at
	rec.Entry.Request = NewRequest(req.Method, "http://"+host+req.RequestURI, req.Proto, hdr, body)
	return rec, nil
}

func gorResponse(raw []byte, method string) (Response, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), &http.Request{Method: method})
	if err != nil {
		return Response{}, fmt.Errorf("response: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGorPayload))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return Response{}, fmt.Errorf("response body: %w", err)
	}
	return NewResponse(resp.StatusCode, resp.Proto, headerPairs(resp.Header), body), nil
}

// headerPairs lists h sorted by name (net/http keeps no order).
func headerPairs(h http.Header) []NameValue {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []NameValue
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, NameValue{Name: k, Value: v})
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
