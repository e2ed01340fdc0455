package sdk_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// guideSources are where the guide's Go code compiles: its quick start's
// provider and tests as whole files, the rest in guide_example_test.go.
var guideSources = []string{
	"internal/quickstart/main.go",
	"internal/quickstart/main_test.go",
	"guide_example_test.go",
}

// Every Go sample of the guide is code that compiles and runs: a whole
// file of the quick start, or a piece of guide_example_test.go, line for
// line, whatever the indentation.
func TestGuideCompiles(t *testing.T) {
	guide, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, name := range guideSources {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, "\n"+unindent(string(b)))
	}
	samples := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(guide), -1)
	if len(samples) == 0 {
		t.Fatal("no Go samples in README.md")
	}
	for _, m := range samples {
		sample := "\n" + unindent(m[1])
		if !slices.ContainsFunc(sources, func(src string) bool { return strings.Contains(src, sample) }) {
			t.Errorf("README.md's sample is in none of %v:\n%s", guideSources, m[1])
		}
	}
}

// unindent takes the indentation off every line of s.
func unindent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(l, " \t")
	}
	return strings.Join(lines, "\n")
}
