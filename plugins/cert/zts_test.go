package cert

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/sdk"
)

// A ZTS (or a proxy in front of it) answering with a huge error page does
// not make huge errors: the text of the answer is cut short in every error,
// log line and status record, saying how much was cut.
func TestZTSErrorBodiesAreCapped(t *testing.T) {
	const size = 1 << 20
	page := "<html><body>" + strings.Repeat("x", size) + "</body></html>"
	message, err := json.Marshal(map[string]any{"code": 503, "message": strings.Repeat("y", size)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, contentType, body string
		chunked                 bool
	}{
		{"html page", "text/html", page, false},
		{"html page, no length", "text/html", page, true},
		{"json message", "application/json", string(message), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				if !tc.chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(tc.body)))
				}
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, tc.body)
			}))
			e, caFile := envFor(t, srv)
			cfg := strings.Replace(e.configFor(srv.URL+"/zts/v1", caFile, "role_certs:\n  targets: [sia.demo:role.reader]\n"),
				"init_max_elapsed: 200ms", "init_max_elapsed: 30ms", 1)
			_, h, log := start(t, cfg)
			rec := h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, "ZTS_ERROR_503"))
			log.wait(0, "Failed to fetch certificates at init")
			if err := h.Shutdown(); err != nil {
				t.Fatal(err)
			}
			srv.Close()

			got := rec.Err.Error()
			if len(got) > 400 || !strings.Contains(got, "PostInstanceRegisterInformation: 503 ") || !strings.Contains(got, " bytes cut)") {
				t.Errorf("status record error (%d bytes): %.600s", len(got), got)
			}
			for _, line := range log.all() {
				if len(line) > 1000 {
					t.Errorf("a log line of %d bytes: %.300s...", len(line), line)
				}
			}
		})
	}
}

// A register answered with a null body made the provider dereference a
// nil identity and crash. It is a malformed answer, retried as any other
// failure.
func TestEmptyRegisterAnswerIsMalformed(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, "null")
	}))
	defer srv.Close()
	e, caFile := envFor(t, srv)
	_, h, log := start(t, e.configFor(srv.URL+"/zts/v1", caFile, ""))
	rec := h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, "MALFORMED_RESPONSE"))
	log.wait(0, "Failed to fetch certificates at init")
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Err.Error(), "PostInstanceRegisterInformation: an answer without a usable token or certificate: an empty answer") {
		t.Errorf("status record error: %v", rec.Err)
	}
}

// envFor is an env for a ZTS stand-in, and the file of the CA that
// verifies it.
func envFor(t *testing.T, srv *httptest.Server) (*env, string) {
	t.Helper()
	e := &env{dir: t.TempDir(), attestation: filepath.Join(t.TempDir(), "token")}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.attestation, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e, caFile
}
