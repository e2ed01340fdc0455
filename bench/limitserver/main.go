// Command limitserver is the throughput and latency limit of the token
// server benchmark: a bare net/http server that answers every request with
// the status, headers and body in a file captured from the token server,
// so that the only difference between the two is what the token server
// does to find its answer. It prints its address, then serves.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: limitserver RESPONSE-FILE")
		os.Exit(64)
	}
	raw, err := os.ReadFile(os.Args[1])
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
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}))
}
