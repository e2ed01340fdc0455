package configs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// Deadlines for the processes, generous for the race detector on a
// small machine; a passing run takes a fraction of them.
const (
	waitStart = time.Minute
	waitExit  = time.Minute
)

// runDemo runs configs/demo.yaml against zts-dev's demo data, as `make
// demo` does, every server on a free port; it returns the agent and its
// metrics address once every provider started.
func runDemo(t *testing.T) (agent *e2e.Process, metrics string) {
	t.Helper()
	zts := e2e.StartZTS(t, filepath.Join(root, "bin"), readFile(t, "zts-dev/demo.yaml"))
	dir := t.TempDir()
	e2e.WriteFile(t, dir, "attestation", "dev-attestation-secret\n")
	file := copyPipeline(t, "demo-run.yaml", readFile(t, "demo.yaml"))
	env := []string{"SIA_DEMO_DIR=" + dir, "ZTS_URL=" + zts.URL, "ZTS_CA_FILE=" + zts.CAFile,
		"TOKEN_PORT=0", "METRICS_PORT=0", "HEALTH_PORT=0"}
	agent = e2e.Start(t, filepath.Join(root, "bin", "sia-agent"), env, "run", "--config", file)
	t.Cleanup(func() {
		agent.Signal(t, 15)
		agent.Exit(t, waitExit)
	})
	i := agent.WaitLog(t, "Starting metrics exporter server[", waitStart)
	m := regexp.MustCompile(`server\[([^\]]+)\]`).FindStringSubmatch(agent.Log.Lines()[i])
	if m == nil {
		t.Fatalf("no address in %q", agent.Log.Lines()[i])
	}
	agent.WaitLog(t, "providers started", waitStart)
	return agent, m[1]
}

// scrapeNames fetches /metrics and returns its samples' names, and the
// lines themselves.
func scrapeNames(t *testing.T, addr string) (names map[string]bool, lines []string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %v %v", resp.Status, err)
	}
	names = map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lines = append(lines, line)
		names[line[:strings.IndexAny(line, "{ ")]] = true
	}
	return names, lines
}

// metricName finds the metric names in a PromQL expression: the
// project's (sia_*) and the processes' (go_*, process_*).
var metricName = regexp.MustCompile(`\b(?:sia|go|process)_[a-zA-Z0-9_]+\b`)

// monitoringQueries returns every PromQL expression of the alert rules
// and the Grafana dashboard, each with where it is.
func monitoringQueries(t *testing.T) map[string]string {
	t.Helper()
	queries := map[string]string{}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
				Annotations      map[string]string
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(readFile(t, "monitoring/alerts.yaml")))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("monitoring/alerts.yaml: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %q: want a name, a severity and a summary", r.Alert)
			}
			queries["alert "+r.Alert] = r.Expr
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name  string
				Query any
			}
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, "monitoring/grafana-dashboard.json")), &dash); err != nil {
		t.Fatalf("monitoring/grafana-dashboard.json: %v", err)
	}
	for _, p := range dash.Panels {
		for i, target := range p.Targets {
			queries[fmt.Sprintf("panel %q query %d", p.Title, i)] = target.Expr
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			queries["variable "+v.Name], _ = q["query"].(string)
		}
	}
	return queries
}

// Every metric the alert rules and the dashboard query exists in a real
// scrape of the demo pipeline; and in the demo every configured
// certificate file reads (its x509 glob matches no key file).
func TestMonitoringQueriesExistInTheDemo(t *testing.T) {
	_, addr := runDemo(t)
	names, lines := scrapeNames(t, addr)
	queries := monitoringQueries(t)
	if len(queries) < 20 {
		t.Fatalf("only %d queries in the rules and the dashboard", len(queries))
	}
	for where, expr := range queries {
		found := metricName.FindAllString(expr, -1)
		if len(found) == 0 {
			t.Errorf("%s: no sia_, go_ or process_ metric in %q", where, expr)
		}
		for _, name := range found {
			if !names[name] {
				t.Errorf("%s queries %s, which the demo's scrape lacks", where, name)
			}
		}
	}
	var files int
	for _, line := range lines {
		if strings.HasPrefix(line, "sia_x509_file_error{") {
			files++
			if !strings.HasSuffix(line, " 0") {
				t.Errorf("the demo's certificate metrics: %s", line)
			}
		}
	}
	if files < 3 {
		t.Errorf("the demo exports %d certificate files, want the identity, the CA and the role certificate", files)
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "sia_agent_ready 1") }) {
		t.Errorf("the demo is not ready once every provider started")
	}
}
