package status

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzaWEuZGVtbyIsImV4cCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJl"
	rt := "v=Z1;d=sia.demo;r=writer;p=sia.demo.client;h=localhost;a=c2c9;t=1700000000;e=1700003600;k=0;s=abc.def-ghi"
	cases := []struct{ in, want string }{
		{"fetched token=" + jwt + " ok", "fetched token=[redacted JWT] ok"},
		{`{"roletoken":"` + rt + `"}`, `{"roletoken":"[redacted role token]"}`},
		{"Authorization: Bearer abc.def/ghi= more", "Authorization: Bearer [redacted] more"},
		{"key -----BEGIN RSA PRIVATE KEY-----\nMIIE\\nAAA\n-----END RSA PRIVATE KEY----- done", "key [redacted private key] done"},
		{"cut -----BEGIN PRIVATE KEY-----\nMIIE... [100 bytes cut]", "cut [redacted private key]"},
		{"a certificate -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "a certificate -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
		{"Updated role certificate target=sia.demo:role.writer serial=12", "Updated role certificate target=sia.demo:role.writer serial=12"},
	}
	for _, c := range cases {
		if got := redact(c.in); got != c.want {
			t.Errorf("redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestStatusKeepsBoundedRedactedLines(t *testing.T) {
	s := newStore("token")
	s.Log("token", "served "+strings.Repeat("eyJ", 1)+"a.b.c and "+strings.Repeat("x", 3*maxText))
	line := s.Report().Providers[0].LogDump[0]
	if len(line) > maxText+40 || !strings.Contains(line, "[redacted JWT]") || !strings.Contains(line, "bytes cut]") {
		t.Errorf("kept %d bytes: %.80q...", len(line), line)
	}
}
