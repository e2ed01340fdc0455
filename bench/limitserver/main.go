// Command limitserver is the throughput and latency limit of the token
// server benchmark: a bare net/http server that answers every request with
// the status, headers and body in a file captured from the token server,
// so that the only difference between the two is what the token server
// does to find its answer. It prints its address, then serves.
//
// With -timeouts it sets the token server's default timeouts (read header
// 5s, read 10s, write 10s, idle 2m), which the token server keeps against
// slow clients: net/http then resets the connection's deadlines on every
// request, a cost of those defences rather than of the token server's
// code, which the benchmark reports as a floor of its own.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	timeouts := flag.Bool("timeouts", false, "set the token server's default timeouts")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: limitserver [-timeouts] RESPONSE-FILE")
		os.Exit(64)
	}
	raw, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil) //nolint:bodyclose // read from memory: no connection to release
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading the captured response:", err)
		os.Exit(1)
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	header := resp.Header.Clone()
	header.Del("Date")
	header.Del("Content-Length")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	answer := body.Bytes()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range header {
			h[k] = v
		}
		// Read the request body, as the token server does.
		var buf [512]byte
		for {
			if _, err := r.Body.Read(buf[:]); err != nil {
				break
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	})}
	if *timeouts {
		srv.ReadHeaderTimeout, srv.ReadTimeout = 5*time.Second, 10*time.Second
		srv.WriteTimeout, srv.IdleTimeout = 10*time.Second, 2*time.Minute
	}
	_ = srv.Serve(ln)
}
