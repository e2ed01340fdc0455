package ztsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/ztsmetrics"
)

// Bounds on what is read of an answer. A success holds at most a
// certificate chain or a token; an error answer (a proxy's error page can
// be megabytes) is read up to maxErrorBody into its message, and what is
// shown of that is cut at maxErrorText.
const (
	maxAnswer    = 1 << 20
	maxErrorBody = 64 << 10
	maxErrorText = 200
)

// errAnswerTooLarge ends the read of a success beyond maxAnswer.
var errAnswerTooLarge = fmt.Errorf("an answer larger than %d bytes", maxAnswer)

// callTransport ties the requests of one call to its caller's context,
// names the agent, counts them and bounds what is read of their answers.
type callTransport struct {
	ctx       context.Context
	op        string
	base      http.RoundTripper
	metrics   *ztsmetrics.Metrics
	userAgent string
	gate      gate

	mu   sync.Mutex
	last answerSeen
}

// answerSeen is what the transport saw of the call's last answer.
type answerSeen struct {
	status int
	// unread is how much of an error answer was not read: the bytes
	// beyond maxErrorBody, or -1 when their number is not known.
	unread int64
	// readErr is the error reading the body failed with, other than
	// running into a bound.
	readErr error
}

func (t *callTransport) seen() answerSeen {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The official client builds requests without a context; the one it
	// passes carries the client timeout, which must be kept.
	ctx, cancel := context.WithCancelCause(req.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	release := func() { stop(); cancel(nil) }
	req = req.Clone(ctx)
	req.Header.Set("User-Agent", t.userAgent)

	// The caller's context has the deadline the circuit weighs: the
	// request's carries only the cancellation.
	if err := t.gate.wait(t.ctx); err != nil {
		release()
		return nil, err
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	t.gate.report(ctx, resp, err)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.metrics.Observe(t.op, status, err, time.Since(start))
	if err != nil {
		release()
		return nil, err
	}
	t.mu.Lock()
	t.last = answerSeen{status: status}
	t.mu.Unlock()
	body := &boundedBody{ReadCloser: resp.Body, t: t, left: maxAnswer, length: resp.ContentLength, release: release}
	if status < 200 || status > 299 {
		// The official client reads an error answer whole into its
		// message: it ends, quietly, at the bound.
		body.left, body.quiet = maxErrorBody, true
	}
	// The client reads the body after RoundTrip returns; the context must
	// live until it closes it.
	resp.Body = body
	return resp, nil
}

// boundedBody ends a body after a number of bytes: quietly (io.EOF)
// recording how much was left unread, or with errAnswerTooLarge. It
// releases the call's context when it is closed.
type boundedBody struct {
	io.ReadCloser
	t       *callTransport
	left    int64
	length  int64 // the Content-Length, or -1
	quiet   bool
	release func()
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, b.atBound()
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		b.t.mu.Lock()
		b.t.last.readErr = err
		b.t.mu.Unlock()
	}
	return n, err
}

// atBound ends the body at its bound. One more byte tells whether anything
// was cut.
func (b *boundedBody) atBound() error {
	var one [1]byte
	if n, _ := b.ReadCloser.Read(one[:]); n == 0 {
		return io.EOF
	}
	if !b.quiet {
		return errAnswerTooLarge
	}
	unread := int64(-1)
	if b.length > maxErrorBody {
		unread = b.length - maxErrorBody
	}
	b.t.mu.Lock()
	b.t.last.unread = unread
	b.t.mu.Unlock()
	return io.EOF
}

func (b *boundedBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
