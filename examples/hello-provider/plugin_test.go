package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// The provider as a real plugin under the real agent: it starts, serves a
// greeting, logs through the agent, and shuts down cleanly on SIGINT.
func TestPlugin(t *testing.T) {
	plugin := sdktest.RunPlugin(t, ".", `address: 127.0.0.1:0
greeting: Hello
lifetime: 1m
refresh_before: 20s
`)
	// The agent prefixes the plugin's log lines with its provider name.
	i, err := plugin.Log.Wait("Starting hello server[", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	addr := regexp.MustCompile(`hello server\[([^\]]+)\]`).FindStringSubmatch(plugin.Log.Lines()[i])[1]

	resp, err := http.Get("http://" + addr + "/hello?name=agent")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "Hello, agent! (credential #1") {
		t.Errorf("GET /hello: %d %q", resp.StatusCode, body)
	}

	if code := plugin.Stop(); code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, plugin.Log.String())
	}
	for _, line := range []string{"sia-agent.under-test: Refreshed the credential", "sia-agent.under-test: Stopped hello server", "Shutdown completed!"} {
		if plugin.Log.Index(line) < 0 {
			t.Errorf("no %q line in the log:\n%s", line, plugin.Log.String())
		}
	}
}
