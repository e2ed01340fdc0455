package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/agent/cli"
)

// The convert command with the converter the executable composes in.
func TestConvertCommand(t *testing.T) {
	const base = "MODE=refresh\nKEY_FILE=/k.pem\nCERT_FILE=/c.pem\n"
	tests := []struct {
		name     string
		args     []string
		input    string
		code     int
		stdout   string // a line the pipeline holds; "" for no pipeline
		stderr   []string
		noStderr string
	}{
		{
			name:   "clean",
			args:   []string{"--env-file", "-"},
			input:  "# k8s-athenz-sia\n\n" + base + "export LOG_LEVEL='fatal'\n",
			stdout: "log_level: error # LOG_LEVEL",
			stderr: []string{"note: PROVIDER_SERVICE: unset", `<stdin>:6: note: LOG_LEVEL: "fatal" is error here`},
		},
		{
			name:   "unsupported",
			args:   []string{"--env-file", "-"},
			input:  base + "DELAY_JITTER_SECONDS=7200\n",
			code:   cli.ExitConfig,
			stderr: []string{"<stdin>:4: unsupported: DELAY_JITTER_SECONDS:", "1 variable without an equivalent (see above): run again with --allow-unsupported"},
		},
		{
			name:   "unsupported allowed",
			args:   []string{"--env-file", "-", "--allow-unsupported"},
			input:  base + "DELAY_JITTER_SECONDS=7200\n",
			stdout: "plugin: cert",
			stderr: []string{"unsupported: DELAY_JITTER_SECONDS:"},
		},
		{
			name:   "unknown",
			args:   []string{"--env-file", "-"},
			input:  base + "TOKEN_EXPIRE=10m\n",
			code:   cli.ExitConfig,
			stderr: []string{"<stdin>:4: unsupported: TOKEN_EXPIRE: not a k8s-athenz-sia variable (did you mean TOKEN_EXPIRY?)"},
		},
		{
			name:     "invalid",
			args:     []string{"--env-file", "-", "--allow-unsupported"},
			input:    base + "REFRESH_INTERVAL=daily\n",
			code:     cli.ExitConfig,
			stderr:   []string{`<stdin>:4: invalid: REFRESH_INTERVAL: "daily" is not a duration`, "1 invalid value (see above): fix and run again"},
			noStderr: "allow-unsupported",
		},
		{
			name:   "not KEY=VALUE",
			args:   []string{"--env-file", "-"},
			input:  base + "KEY FILE\n",
			code:   cli.ExitConfig,
			stderr: []string{`<stdin>:4: want KEY=VALUE, not "KEY FILE"`},
		},
		{
			name:   "missing file",
			args:   []string{"--env-file", "/nonexistent/sia.env"},
			code:   cli.ExitConfig,
			stderr: []string{"no such file or directory"},
		},
		{
			name:   "arguments",
			args:   []string{"sia.env"},
			code:   cli.ExitUsage,
			stderr: []string{"unexpected arguments: sia.env"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Convert(tt.args, strings.NewReader(tt.input), &stdout, &stderr, convert)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if tt.stdout == "" && stdout.Len() > 0 {
				t.Errorf("a pipeline was printed:\n%s", stdout.String())
			}
			if tt.stdout != "" && !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("pipeline without %q:\n%s", tt.stdout, stdout.String())
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("standard error without %q:\n%s", want, stderr.String())
				}
			}
			if tt.noStderr != "" && strings.Contains(stderr.String(), tt.noStderr) {
				t.Errorf("standard error has %q:\n%s", tt.noStderr, stderr.String())
			}
		})
	}
}

// Without --env-file the process environment is converted, and variables
// that are not k8s-athenz-sia's (PATH, HOME) are not reported.
func TestConvertCommandEnvironment(t *testing.T) {
	t.Setenv("MODE", "refresh")
	t.Setenv("KEY_FILE", "/k.pem")
	t.Setenv("CERT_FILE", "/c.pem")
	t.Setenv("METRICS_SERVER_ADDR", "127.0.0.1:9999")
	t.Setenv("HOME", "/root")
	var stdout, stderr bytes.Buffer
	if code := cli.Convert(nil, strings.NewReader(""), &stdout, &stderr, convert); code != cli.ExitOK {
		t.Fatalf("exit code %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "address: 127.0.0.1:9999 # METRICS_SERVER_ADDR") {
		t.Errorf("pipeline without the metrics provider:\n%s", stdout.String())
	}
	if strings.Contains(stderr.String(), "HOME") {
		t.Errorf("HOME reported:\n%s", stderr.String())
	}
}
