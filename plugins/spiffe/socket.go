package spiffe

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// listen binds the socket at path with mode. A socket that a killed agent
// left is removed; one that a process still serves on is an error, and so
// is anything that is not a socket, which is left as it is.
func listen(path string, mode os.FileMode) (*net.UnixListener, error) {
	// Workloads must reach the socket; its own mode says who may connect.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // G301: see above
		return nil, fmt.Errorf("creating the directory of the socket %s: %w", path, err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	// Right after the bind: a caller that connects in between is still
	// checked against the allow list.
	if err := os.Chmod(path, mode); err != nil {
		_ = ln.Close() // the Chmod error is the one to report
		return nil, fmt.Errorf("setting the mode of the socket %s: %w", path, err)
	}
	return ln, nil
}

func removeStale(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s exists and is not a socket; remove it or choose another socket path", path)
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = conn.Close() // only probed whether someone serves
		return fmt.Errorf("%s is in use: another process serves on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the stale socket %s: %w", path, err)
	}
	return nil
}

// limitListener accepts at most limit connections at once: one more is
// closed at once, so that callers, allowed or not, cannot make the agent
// hold more.
type limitListener struct {
	*net.UnixListener
	slots  chan struct{}
	opened func(delta int)
	refuse func()
}

func newLimitListener(ln *net.UnixListener, limit int, opened func(int), refuse func()) *limitListener {
	return &limitListener{UnixListener: ln, slots: make(chan struct{}, limit), opened: opened, refuse: refuse}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.opened(1)
			return &limitedConn{UnixConn: c, release: sync.OnceFunc(func() {
				<-l.slots
				l.opened(-1)
			})}, nil
		default:
			_ = c.Close() // refused: over max_connections
			l.refuse()
		}
	}
}

// limitedConn gives its slot back when closed. It is a *net.UnixConn still,
// whose credentials the handshake reads.
type limitedConn struct {
	*net.UnixConn
	release func()
}

// Close gives the slot back first: a client that sees the connection end
// finds it free.
func (c *limitedConn) Close() error {
	c.release()
	return c.UnixConn.Close()
}

// waitReady confirms that the gRPC server answers on the socket: a client
// connects, sends the HTTP/2 preface and gets the server's SETTINGS frame,
// so that Shutdown can later drain the server. The probe logs nothing:
// the gate only sees calls. Like
// sdk.WaitForServerReady it takes no context on purpose: it succeeds, or
// gives up after sdk.ReadyTimeout, and its first retry comes within a
// millisecond.
func waitReady(path string) error {
	deadline := time.Now().Add(sdk.ReadyTimeout)
	wait := time.Millisecond
	for {
		err := probe(path)
		if err == nil {
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("server on %s not ready after %v: %w", path, sdk.ReadyTimeout, err)
		}
		time.Sleep(wait)
		wait = min(wait*2, 250*time.Millisecond)
	}
}

// The HTTP/2 client preface, then an empty SETTINGS frame (RFC 9113, 3.4).
var http2Preface = append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 0x4, 0, 0, 0, 0, 0)

const http2FrameSettings = 0x4

func probe(path string) error {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close() //nolint:errcheck // a probe; its outcome is already known
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write(http2Preface); err != nil {
		return err
	}
	var header [9]byte // an HTTP/2 frame header: length 3, type 1, flags 1, stream 4
	if _, err := io.ReadFull(conn, header[:]); err != nil {
		return fmt.Errorf("reading the server's first frame: %w", err)
	}
	if header[3] != http2FrameSettings {
		return fmt.Errorf("the server's first frame is of type %d, not SETTINGS", header[3])
	}
	// Ready. Say goodbye and wait for the server to close its end, so
	// that the probe holds none of the max_connections once Start returns.
	if uc, ok := conn.(*net.UnixConn); ok && uc.CloseWrite() == nil {
		_, _ = io.Copy(io.Discard, conn) // drains until the server closes; how it ends does not matter
	}
	return nil
}
