// Command grpcidle is the memory baseline of the lifecycle benchmark: a Go
// process that links gRPC, serves it on a loopback port, and idles. A
// plugin cannot weigh less than this.
package main

import (
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
)

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	fmt.Println("ready")
	_ = s.Serve(l)
}
