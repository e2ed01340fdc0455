package ztsdev

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// apiError is the ZTS ResourceError: the client decodes it from every
// non-success response, and the HTTP status always equals Code.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`

	retryAfter time.Duration // a fault's Retry-After; 0: none
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

func newError(code int, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, format, args...)
}

func unauthorized(format string, args ...any) *apiError {
	return newError(http.StatusUnauthorized, format, args...)
}

func forbidden(format string, args ...any) *apiError {
	return newError(http.StatusForbidden, format, args...)
}

func notFound(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, format, args...)
}

func serverError(format string, args ...any) *apiError {
	return newError(http.StatusInternalServerError, format, args...)
}

// writeJSON writes v with the given status. Encoding errors cannot be
// reported to a client that already has the status line, so they are
// returned for the caller to log.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %T response: %w", v, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

func writeError(w http.ResponseWriter, e *apiError) error {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter/time.Second)))
	}
	return writeJSON(w, e.Code, e)
}
