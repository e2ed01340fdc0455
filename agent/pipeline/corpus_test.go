package pipeline

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

// corpusEnv is the environment the broken pipeline files are loaded with.
var corpusEnv = env{
	"SIA_TEST_EMPTY":     "",
	"SIA_TEST_MULTILINE": "first\nsecond",
}

// profileOf reads the "# profile: NAME" first line a corpus file may have.
func profileOf(data []byte) string {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	name, ok := strings.CutPrefix(string(first), "# profile: ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(name)
}

var wantRE = regexp.MustCompile(`^([^:/]+\.yaml):(\d+)(?::\d+)?: (.+)$`)

// TestBrokenCorpus loads every testdata/broken/*.yaml and asserts that the
// error names the file, the line and, where the problem has one, the key,
// as the sibling *.want file says.
func TestBrokenCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("only %d broken pipeline files", len(files))
	}
	for _, file := range files {
		base := filepath.Base(file)
		t.Run(strings.TrimSuffix(base, ".yaml"), func(t *testing.T) {
			raw, err := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".want")
			if err != nil {
				t.Fatalf("every broken file needs a .want: %v", err)
			}
			want := strings.TrimSpace(string(raw))
			m := wantRE.FindStringSubmatch(want)
			if m == nil || m[1] != base {
				t.Fatalf("want %q must start with %q, then the line", want, base+":")
			}
			line, _ := strconv.Atoi(m[2])
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}

			p, err := Load(file, Options{Profile: profileOf(data), Lookup: corpusEnv.lookup})
			if err == nil {
				t.Fatalf("loaded without error: %+v", p)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error lacks %q; got:\n%v", want, err)
			}
			var found *conf.Problem
			for _, p := range conf.AsProblems(err) {
				if p.File == file && p.Line == line && strings.Contains(p.Error(), want) {
					found = p
				}
			}
			if found == nil {
				t.Fatalf("no problem names file %s and line %d:\n%v", file, line, err)
			}
			if key := found.Path.String(); key != "" && !strings.HasPrefix(m[3], key+": ") {
				t.Errorf("the problem is about key %q, which the .want does not name: %q", key, want)
			}
			if line > lineCount(data) {
				t.Errorf("line %d is past the end of the file (%d lines)", line, lineCount(data))
			}
		})
	}
}

// lineCount counts lines as YAML does: \n, \r\n, \r, NEL, LS and PS each
// end a line; text after the last break is a line too.
func lineCount(data []byte) int {
	breaks := []string{"\r\n", "\n", "\r", "\u0085", "\u2028", "\u2029"}
	n, last := 0, 0
	for i := 0; i < len(data); i++ {
		for _, br := range breaks {
			if bytes.HasPrefix(data[i:], []byte(br)) {
				n++
				i += len(br) - 1
				last = i + 1
				break
			}
		}
	}
	if last < len(data) {
		n++
	}
	return n
}

func TestLineCount(t *testing.T) {
	cases := map[string]int{
		"":              0,
		"a":             1,
		"a\n":           1,
		"a\nb":          2,
		"a\r\nb\r\n":    2,
		"a\rb":          2,
		"\n\n":          2,
		"a\u2028b":      2,
		"a\u0085b\n":    2,
		"a\u2029\u00e9": 2,
	}
	for in, want := range cases {
		if got := lineCount([]byte(in)); got != want {
			t.Errorf("lineCount(%q) = %d, want %d", in, got, want)
		}
	}
}

// FuzzLoad feeds Parse arbitrary pipeline text: it must never panic, and
// every error must be a conf problem that names this file and, when
// it has a line, a line of the file.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"testdata/broken/*.yaml", "testdata/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data, profileOf(data))
		}
	}
	f.Add([]byte(header+"providers:\n  - {name: a, plugin: sia-plugin-ok, enabled: ${X:-true}}\nprofiles:\n  dev:\n    providers:\n      a: {config: {b: [1]}}\n"), "dev")
	f.Add([]byte("a: &x [*x]\n"), "")
	f.Add([]byte("version: 1\nproviders: [&p {name: a, plugin: ../bin/sia-plugin-ok}, *p]\n"), "")

	abs, err := filepath.Abs(filepath.Join("testdata", "broken", "fuzz.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, profile string) {
		p, err := Parse("fuzz.yaml", abs, data, Options{Profile: profile, Lookup: corpusEnv.lookup})
		if err == nil {
			if p == nil || len(p.Enabled()) == 0 {
				t.Fatalf("no error, but pipeline %+v", p)
			}
			for _, pr := range p.Enabled() {
				if pr.Path == "" {
					t.Fatalf("enabled provider %q without a plugin path", pr.Name)
				}
			}
			return
		}
		var one *conf.Problem
		var many conf.Problems
		if !errors.As(err, &one) && !errors.As(err, &many) {
			t.Fatalf("error is %T, not a conf problem: %v", err, err)
		}
		lines := lineCount(data)
		for _, pr := range conf.AsProblems(err) {
			if pr.File != "fuzz.yaml" {
				t.Errorf("problem names file %q: %v", pr.File, pr)
			}
			if pr.Line < 0 || pr.Line > lines {
				t.Errorf("problem on line %d of a %d-line file: %v\n%q", pr.Line, lines, pr, data)
			}
		}
	})
}
