package token

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// BenchmarkTokenServer measures, in one run, the token server against the
// limit on this machine: a bare net/http handler that serves the same
// bytes (status, headers, body) from a map. Both are driven by the same
// client: a fixed number of keep-alive HTTP/1.1 connections, each sending
// its next request when the previous answer is in, over loopback. The
// client is a few lines over net.Conn rather than net/http's, so that the
// servers, not the client, are what the figures compare.
//
//	go test -run '^$' -bench TokenServer -benchtime 1x ./plugins/token/
//
// TOKEN_BENCH_ROUND (default 1s) and TOKEN_BENCH_ROUNDS (default 5) set
// how long each server is driven per round and how many rounds alternate
// between them; TOKEN_BENCH_CONNS (default 16) the connections;
// TOKEN_BENCH_ONLY runs only the requests whose name contains it. The
// budget is a throughput ratio of at least 0.90 and a p99 ratio of at most
// 1.20 (token server / limit).
func BenchmarkTokenServer(b *testing.B) {
	round := envDuration(b, "TOKEN_BENCH_ROUND", time.Second)
	rounds := envInt(b, "TOKEN_BENCH_ROUNDS", 5)
	conns := envInt(b, "TOKEN_BENCH_CONNS", 16)

	z := startZTS(b, "")
	p := &Provider{}
	h := sdktest.New(b, p, "token", z.config("targets: [{domain: sia.demo, roles: [reader]}]\n"))
	// At the agent's default level: no line per request.
	h.Runtime.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: testLog{b}})
	if err := h.Init(); err != nil {
		b.Fatal(err)
	}
	if err := h.Start(); err != nil {
		b.Fatal(err)
	}
	addr := p.Addr().String()

	requests := []struct {
		name string
		raw  string
	}{
		{"header mode", "GET / HTTP/1.1\r\nHost: " + addr + "\r\nX-Athenz-Domain: sia.demo\r\nX-Athenz-Role: reader\r\n\r\n"},
		{"REST /roletoken", post(addr, "/roletoken", `{"domain":"sia.demo","role":"reader"}`)},
		{"REST /accesstoken", post(addr, "/accesstoken", `{"domain":"sia.demo","role":"reader"}`)},
	}

	// The limit serves what the token server answers, captured once.
	lim := newLimit(b)
	for _, r := range requests {
		lim.capture(b, addr, r.raw)
	}

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range requests {
			if only := os.Getenv("TOKEN_BENCH_ONLY"); only != "" && !strings.Contains(r.name, only) {
				continue
			}
			var tok, bare loadResult
			runLoad(b, addr, r.raw, conns, round/4) // warm up both
			runLoad(b, lim.addr, r.raw, conns, round/4)
			for range rounds {
				tok.add(runLoad(b, addr, r.raw, conns, round))
				bare.add(runLoad(b, lim.addr, r.raw, conns, round))
			}
			rps, p99 := tok.rps()/bare.rps(), float64(tok.p99())/float64(bare.p99())
			verdict := "within budget"
			if rps < 0.90 || p99 > 1.20 {
				verdict = "OVER BUDGET"
			}
			b.Logf("%-18s limit %7.0f req/s p99 %-9v | token server %7.0f req/s p99 %-9v | throughput %.3f, p99 %.3f: %s",
				r.name, bare.rps(), bare.p99(), tok.rps(), tok.p99(), rps, p99, verdict)
			unit := strings.NewReplacer(" ", "_", "/", "").Replace(r.name)
			b.ReportMetric(rps, unit+"_throughput_ratio")
			b.ReportMetric(p99, unit+"_p99_ratio")
		}
	}
}

func post(addr, path, body string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// limit is the bare handler: one map lookup, then the captured bytes.
type limit struct {
	addr    string
	answers map[string]*captured // by request line + key
}

type captured struct {
	header http.Header
	body   []byte
}

func newLimit(b *testing.B) *limit {
	l := &limit{answers: make(map[string]*captured)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: l}
	go func() { _ = srv.Serve(ln) }() // http.ErrServerClosed at cleanup
	b.Cleanup(func() { srv.Close() })
	l.addr = ln.Addr().String()
	return l
}

// ServeHTTP keys header-mode requests by their two headers and REST ones
// by their body, as the token server does, without parsing anything.
func (l *limit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var key string
	if r.Method == http.MethodPost {
		var buf [512]byte
		n, _ := io.ReadFull(r.Body, buf[:])
		key = r.URL.Path + string(buf[:n])
	} else {
		key = first(r.Header[domainHeader]) + "\x00" + first(r.Header[roleHeader])
	}
	a := l.answers[key]
	if a == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	h := w.Header()
	for k, v := range a.header {
		h[k] = v
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(a.body)
}

// capture asks the token server raw once and stores its answer for the
// limit under the same key.
func (l *limit) capture(b *testing.B, addr, raw string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		b.Fatal(err)
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("token server: %s %s", resp.Status, body)
	}
	resp.Header.Del("Date")
	resp.Header.Del("Content-Length")
	key := first(req.Header[domainHeader]) + "\x00" + first(req.Header[roleHeader])
	if req.Method == http.MethodPost {
		reqBody, _ := io.ReadAll(req.Body)
		key = req.URL.Path + string(reqBody)
	}
	l.answers[key] = &captured{header: resp.Header, body: body}
}

// loadResult is the requests and latencies of one or more rounds.
type loadResult struct {
	n         int
	elapsed   time.Duration
	latencies []time.Duration
}

func (r *loadResult) add(o loadResult) {
	r.n += o.n
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
}

func (r *loadResult) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r *loadResult) p99() time.Duration {
	slices.Sort(r.latencies)
	return r.latencies[len(r.latencies)*99/100].Round(time.Microsecond)
}

// runLoad sends raw over conns connections for d and returns what was
// answered. Any answer but 200 fails the benchmark.
func runLoad(b *testing.B, addr, raw string, conns int, d time.Duration) loadResult {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out loadResult
	)
	begin := time.Now()
	deadline := begin.Add(d)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			r := bufio.NewReaderSize(c, 16<<10)
			req := []byte(raw)
			lat := make([]time.Duration, 0, 1<<14)
			for {
				start := time.Now()
				if start.After(deadline) {
					break
				}
				if _, err := c.Write(req); err != nil {
					b.Error(err)
					return
				}
				if err := readResponse(r); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(start))
			}
			mu.Lock()
			out.n += len(lat)
			out.latencies = append(out.latencies, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	out.elapsed = time.Since(begin)
	return out
}

// readResponse reads one HTTP/1.1 response with a Content-Length body and
// checks that it is a 200.
func readResponse(r *bufio.Reader) error {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("answer %q", line)
	}
	length := -1
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if name, value, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(value)))
		}
	}
	if length < 0 {
		return fmt.Errorf("answer without Content-Length")
	}
	_, err = r.Discard(length)
	return err
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return d
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return n
}

// BenchmarkCacheHit measures a cache hit alone, from every core at once:
// a target's (the map beside the LRU) and an on-demand token's (moved to
// the front of the LRU order under the entries' lock). Compare it with a
// token server request (BenchmarkTokenServer: tens of microseconds).
//
//	go test -run '^$' -bench CacheHit ./plugins/token/
func BenchmarkCacheHit(b *testing.B) {
	for _, target := range []bool{true, false} {
		name := "on_demand"
		if target {
			name = "target"
		}
		b.Run(name, func(b *testing.B) {
			st, _ := testCache(b, upstream(nil), nil)
			st.log = hclog.NewNullLogger()
			keys := make([]Key, 64)
			for i := range keys {
				keys[i] = Key{Kind: roleToken, Domain: "sia.demo", Roles: "role" + strconv.Itoa(i)}
				if target {
					st.addTarget(keys[i])
				}
				if r := st.fetch(b.Context(), keys[i]); r.err != nil {
					b.Fatal(r.err)
				}
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for i := 0; pb.Next(); i++ {
					if _, err := st.token(ctx, keys[i%len(keys)]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkServeHit measures what the token server's handler costs for a
// cache hit, without the network: what is left to judge the hand-made
// parts of the request path by (precomputed answers, pooled buffers, the
// body reader, the body memo). A token server request costs tens of
// microseconds of CPU in all (BenchmarkTokenServer: about 45 000 a second
// on two cores); a part is kept when it saves a measurable share of that.
//
//	go test -run '^$' -bench ServeHit -benchmem ./plugins/token/
func BenchmarkServeHit(b *testing.B) {
	f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
		// A JWT of zts-dev's size, and a role token of the same.
		raw := strings.Repeat("eyJhbGciOiJFUzI1NiJ9", 40)
		scope := ""
		if k.Kind == roleToken {
			raw = "v=Z1;d=sia.demo;r=reader;p=sia.demo.agent;h=host;a=1f2e;t=1700000000;e=1700003600;k=0;i=10.0.0.1;s=" + strings.Repeat("x", 96)
		}
		return newToken(k.Kind, raw, scope, time.Now().Add(time.Hour), time.Now()), nil
	})
	st, _ := testCache(b, f, nil)
	st.log = hclog.NewNullLogger()
	s := testServer(b, st)
	for _, r := range []struct {
		name, method, path, body string
		h                        http.Header
	}{
		{"header_mode", "GET", "/", "", headers("sia.demo", "reader")},
		{"roletoken", "POST", "/roletoken", `{"domain":"sia.demo","role":"reader"}`, nil},
		{"accesstoken", "POST", "/accesstoken", `{"domain":"sia.demo","role":"reader"}`, nil},
	} {
		b.Run(r.name, func(b *testing.B) {
			if w := serve(s, r.method, r.path, r.h, r.body); w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
			req := httptest.NewRequest(r.method, r.path, nil)
			req.Host = s.cfg.Address
			for k, v := range r.h {
				req.Header[k] = v
			}
			if r.method == http.MethodPost {
				req.Header.Set("Content-Type", "application/json")
			}
			body := strings.NewReader(r.body)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				body.Reset(r.body)
				req.Body = io.NopCloser(body)
				req.ContentLength = int64(len(r.body))
				clear(w.h)
				s.ServeHTTP(w, req)
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing but its header map.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
