// Package health is the health provider: liveness, readiness and the
// status report over HTTP, from the agent's status report.
//
//   - /healthz is liveness: the agent and this plugin answer. It never
//     depends on upstream reachability, so that a ZTS outage does not get
//     the workload restarted.
//   - /readyz is readiness: every enabled provider started and every
//     credential valid; otherwise 503, naming each provider (and
//     credential) that is not ready and why.
//   - /status is the whole status report.
//
// k8s-athenz-sia's health check is a static 200 that knows nothing of the
// agent's state; this one asks the agent at every request.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/plugins/internal/httpserver"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Config is the provider's `config:` block; docs/health.md is its
// reference.
type Config struct {
	// Endpoint is where the endpoints are served (address, tls), and how
	// long a request waits for the agent's status (timeout).
	httpserver.Endpoint `yaml:",inline"`
	// Status serves /status, the whole status report with recent log
	// lines; false keeps it off an address other pods or hosts reach,
	// where the probes alone are needed.
	Status bool `yaml:"status"`
	// LivenessPath also answers as /healthz does, at a path of the
	// user's (k8s-athenz-sia's HEALTH_CHECK_ENDPOINT), so that probes need
	// not change; "" serves none.
	LivenessPath string `yaml:"liveness_path"`
}

// DefaultAddress is where the endpoints are served unless configured.
const DefaultAddress = "127.0.0.1:9998"

// serverName is what the log calls the server, as the specification's
// logs do.
const serverName = "health check server"

// Validate checks the config; Decode calls it, and the TLS block's own.
func (c Config) Validate() error {
	var check conf.Checker
	c.Endpoint.Check(&check)
	if err := checkPath(c.LivenessPath); err != nil {
		check.Errorf("liveness_path", "%v", err)
	}
	return check.Err()
}

// checkPath checks a path to serve: absolute, clean, nothing but a path,
// and none of the provider's own.
func checkPath(p string) error {
	switch u, err := url.Parse(p); {
	case p == "":
		return nil
	case err != nil || u.Path != p || !strings.HasPrefix(p, "/") || path.Clean(p) != p:
		return fmt.Errorf("%q is not a clean absolute path such as /health (no query, no host)", p)
	case p == "/healthz" || p == "/readyz" || p == "/status":
		return fmt.Errorf("%q is served already", p)
	}
	return nil
}

// loadConfig decodes cfg over the defaults and validates it, reporting
// every problem at once with its file and line.
func loadConfig(cfg sdk.Config) (Config, error) {
	c := Config{Endpoint: httpserver.Endpoint{Address: DefaultAddress, Timeout: sdk.Duration(2 * time.Second)}, Status: true}
	if err := cfg.Decode(&c); err != nil {
		return Config{}, err
	}
	if cfg.File != "" {
		c.Endpoint = c.Endpoint.Resolve(filepath.Dir(cfg.File))
	}
	return c, nil
}

// Provider is the health provider.
type Provider struct {
	cfg     Config
	log     hclog.Logger
	group   *sdk.Group
	handler http.Handler
	srv     *httpserver.Server
}

func (p *Provider) Validate(_ context.Context, cfg sdk.Config) error {
	_, err := loadConfig(cfg)
	return err
}

func (p *Provider) Init(_ context.Context, rt *sdk.Runtime) error {
	cfg, err := loadConfig(rt.Config)
	if err != nil {
		return err
	}
	p.cfg, p.log, p.group = cfg, rt.Logger, sdk.NewGroup(rt)
	p.handler = &handler{host: rt.Host, timeout: cfg.Timeout.Std(), status: cfg.Status, liveness: cfg.LivenessPath, log: rt.Logger}
	return nil
}

// Start binds the address, creates the "health check server" goroutine
// and returns once the server answers.
func (p *Provider) Start(ctx context.Context) error {
	var err error
	p.srv, err = httpserver.Start(ctx, p.group, "health check server", p.cfg.Endpoint.Options(serverName, p.handler, p.log))
	return err
}

// Shutdown drains the server and waits for its goroutine. It is safe
// without Init or Start.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.group == nil {
		return nil
	}
	p.srv.Shutdown(ctx)
	p.group.Stop()
	return nil
}

// Response bodies. Every response is JSON.
type (
	// healthBody answers /healthz, and any endpoint when the agent does
	// not answer.
	healthBody struct {
		Status string `json:"status"` // "ok" or "unavailable"
		Error  string `json:"error,omitempty"`
	}
	// readyBody answers /readyz.
	readyBody struct {
		Status   string         `json:"status"` // "ready" or "not_ready"
		Phase    string         `json:"phase"`
		NotReady []sdk.NotReady `json:"not_ready,omitempty"`
	}
	errorBody struct {
		Error string `json:"error"`
	}
)

// handler serves the endpoints, asking the agent at every request.
type handler struct {
	host     sdk.Host
	timeout  time.Duration
	status   bool   // serve /status
	liveness string // a further liveness path; "" for none
	log      hclog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var respond func(*sdk.StatusReport) (int, any)
	switch p := r.URL.Path; {
	case p == "/healthz" || (h.liveness != "" && p == h.liveness):
		respond = func(*sdk.StatusReport) (int, any) { return http.StatusOK, healthBody{Status: "ok"} }
	case p == "/readyz":
		respond = readiness
	case p == "/status":
		if !h.status {
			writeJSON(w, http.StatusNotFound, errorBody{Error: "/status is not served on this address (status: false); " +
				"the status report is in the agent's agent.status_file"})
			return
		}
		respond = func(rep *sdk.StatusReport) (int, any) { return http.StatusOK, rep }
	default:
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such endpoint: " + r.URL.Path + " (try /healthz, /readyz or /status)"})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	rep, err := h.host.Status(ctx)
	if err != nil {
		// The agent is stuck or gone: neither alive nor ready.
		h.log.Warn("The agent did not answer a health request", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusServiceUnavailable, healthBody{Status: "unavailable", Error: err.Error()})
		return
	}
	code, body := respond(rep)
	writeJSON(w, code, body)
}

func readiness(rep *sdk.StatusReport) (int, any) {
	if rep.Ready {
		return http.StatusOK, readyBody{Status: "ready", Phase: rep.Phase}
	}
	return http.StatusServiceUnavailable, readyBody{Status: "not_ready", Phase: rep.Phase, NotReady: rep.NotReady}
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	b, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n')) // the client went away; nothing to tell it
}
