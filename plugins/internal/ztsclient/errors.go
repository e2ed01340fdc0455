package ztsclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ardielle/ardielle-go/rdl"

	"github.com/sia-agent/sia-agent/sdk"
)

// Error is a failed ZTS call: ZTS answered with an error status, or with
// a success that holds nothing usable (Malformed), or not at all.
type Error struct {
	// Op is the official client's method, e.g. GetRoleToken.
	Op string
	// Status is ZTS's HTTP status; 0 when it did not answer.
	Status int
	// Malformed: ZTS answered with a success that is not what was asked.
	Malformed bool
	Err       error

	unread int64  // of the answer, as answerSeen.unread
	prefix string // of the outcome; "ZTS_" when empty
}

// Malformed is the error of a success from ZTS that holds nothing usable:
// what a caller's own checks of the answer find.
func Malformed(op, reason string) *Error {
	return &Error{Op: op, Malformed: true, Err: errors.New(reason)}
}

// Error shows the text of ZTS's answer cut to maxErrorText bytes.
func (e *Error) Error() string {
	switch {
	case e.Status != 0:
		msg := e.Err.Error()
		var re rdl.ResourceError
		if errors.As(e.Err, &re) {
			msg = re.Message
		}
		return fmt.Sprintf("%s: %d %s", e.Op, e.Status, capText(msg, e.unread))
	case e.Malformed:
		return e.Op + ": an answer without a usable token or certificate: " + e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Outcome implements the interface sdk.Outcome looks for: the prefix and
// the HTTP status of an error answer (ZTS_404, or ZTS_ERROR_404 for the
// cert provider), MALFORMED_RESPONSE, or how the call got no answer
// (UNREACHABLE, TIMEOUT, CANCELED).
func (e *Error) Outcome() string {
	switch {
	case e.Status != 0:
		prefix := e.prefix
		if prefix == "" {
			prefix = "ZTS_"
		}
		return prefix + strconv.Itoa(e.Status)
	case e.Malformed:
		return "MALFORMED_RESPONSE"
	}
	if o := sdk.Outcome(e.Err); o != "ERROR" {
		return o
	}
	return "UNREACHABLE"
}

// Status is the HTTP status ZTS answered a failed call with, or 0.
func Status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return statusOf(err)
}

// statusOf is the status of the official client's error for an answer.
func statusOf(err error) int {
	var re rdl.ResourceError
	if errors.As(err, &re) {
		return re.Code
	}
	var pre *rdl.ResourceError
	if errors.As(err, &pre) && pre != nil {
		return pre.Code
	}
	return 0
}

// ClientStatus is the HTTP status, and its message, that a client of the
// agent should see for a token it asked for and that ZTS did not give:
// 403 when ZTS refuses the agent's identity or to issue it the token (not
// a member of the role, no such role: ZTS does not tell those apart, a
// proxy not authorized), 404 when it knows no such domain, 400 when it
// finds the request invalid, 502 when it answers nonsense, and 503 when
// it cannot be reached, is failing or rate limiting, or is too slow. ok is
// false for an error that is not a ZTS call's.
func ClientStatus(err error) (code int, msg string, ok bool) {
	var e *Error
	var open *sdk.CircuitOpenError
	switch {
	case !errors.As(err, &e):
		return 0, "", false
	case e.Status != 0:
		code, msg = answerStatus(e.Status)
	case errors.As(e.Err, &open) && open.Status != 0:
		code, msg = answerStatus(open.Status)
		msg += "; the agent retries in " + open.RetryIn.Round(time.Second).String()
	case errors.As(e.Err, &open):
		code, msg = http.StatusServiceUnavailable, "ZTS cannot be reached; the agent retries in "+open.RetryIn.Round(time.Second).String()
	case e.Malformed:
		code, msg = http.StatusBadGateway, "ZTS answered without a usable token"
	case errors.Is(e.Err, context.DeadlineExceeded):
		code, msg = http.StatusServiceUnavailable, "ZTS did not answer in time"
	case errors.Is(e.Err, context.Canceled):
		code, msg = http.StatusServiceUnavailable, "the request was cancelled before ZTS answered"
	default:
		code, msg = http.StatusServiceUnavailable, "ZTS cannot be reached"
	}
	return code, msg, true
}

// answerStatus is ClientStatus for an answer of ZTS other than success.
// ZTS answers 403, not 404, for a role it does not know.
func answerStatus(status int) (int, string) {
	switch status {
	case http.StatusUnauthorized:
		return http.StatusForbidden, "ZTS refused the agent's identity (it did not authenticate)"
	case http.StatusForbidden:
		return http.StatusForbidden, "ZTS refused to issue the token to the agent's identity (not a member of the role, no such role, or not authorized for the proxy principal)"
	case http.StatusNotFound:
		return http.StatusNotFound, "ZTS has no such domain"
	case http.StatusBadRequest:
		return http.StatusBadRequest, "ZTS rejected the request as invalid"
	case http.StatusTooManyRequests:
		return http.StatusServiceUnavailable, "ZTS is rate limiting the agent"
	}
	return http.StatusServiceUnavailable, "ZTS failed (" + strconv.Itoa(status) + ")"
}

// capText makes the text of an answer fit on one short line: control
// characters become spaces, and beyond maxErrorText bytes it is cut,
// saying how much was cut. unread is how much the transport did not read
// (-1: an unknown amount).
func capText(s string, unread int64) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD")))
	if len(s) <= maxErrorText && unread == 0 {
		return s
	}
	keep := min(len(s), maxErrorText)
	for keep > 0 && keep < len(s) && !utf8.RuneStart(s[keep]) {
		keep--
	}
	cut := int64(len(s) - keep)
	if unread < 0 {
		return fmt.Sprintf("%s... (more than %d bytes cut)", s[:keep], cut)
	}
	return fmt.Sprintf("%s... (%d bytes cut)", s[:keep], cut+unread)
}
