package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// validateCommand loads the pipeline and has every enabled plugin validate
// its configuration; it starts nothing. It reports every problem at once:
// those of the file and those of each plugin's config, even when the file
// has problems (see salvage), each as file:line: key: message, and then
// how many there are.
func validateCommand(args []string, stdout, stderr io.Writer, builtins []Builtin) int {
	f, code := parseFlags("validate", args, stdout, stderr, false, builtins)
	if f == nil {
		return code
	}
	opts := pipelineOptions(f)
	p, err := pipeline.Load(f.config, opts)
	problems := conf.AsProblems(err)
	if err != nil && !located(problems) {
		// Nothing to salvage: the file cannot be read, is empty, ...
		fmt.Fprintf(stderr, "%v\n%s\n", err, summary(max(len(problems), 1), f))
		return ExitConfig
	}
	skip := problemPaths(problems)
	var uncovered conf.Problems
	if p == nil {
		var blanked []conf.Path
		p, blanked, uncovered = salvage(f.config, problems, opts)
		skip = append(skip, blanked...)
	}
	if p == nil {
		return report(stderr, f, problems, ExitConfig)
	}
	f.override(p)
	// Plugins name their keys providers.<name>.config...; so do we here,
	// which reads better than providers[2].config...
	for _, pb := range problems {
		pb.Path = byName(pb.Path, p)
	}
	for i := range skip {
		skip[i] = byName(skip[i], p)
	}
	// What the salvaged file still has wrong, a missing plugin say, is
	// news, unless blanking caused it.
	for _, pb := range uncovered {
		if pb.Path = byName(pb.Path, p); !under(pb.Path, skip) {
			problems = append(problems, pb)
		}
	}

	l, more, failed := validatePlugins(f, p, skip, stderr)
	defer l.kill()
	switch configProblems := len(problems) + len(more) - len(failed); {
	case configProblems > 0:
		// A plugin that cannot run is worth hearing about, but the
		// configuration is what needs fixing first.
		return report(stderr, f, append(problems, more...), ExitConfig)
	case len(failed) > 0:
		return report(stderr, f, more, exitCode(failed))
	}
	printProviders(stdout, f, l)
	for _, n := range renameNotes(p) {
		fmt.Fprintln(stderr, "note: "+n)
	}
	return ExitOK
}

// renameNotes says which entries still name a first-party plugin binary
// of earlier versions, and what to write instead.
func renameNotes(p *pipeline.Pipeline) []string {
	var notes []string
	for _, pr := range p.Providers {
		if pr.Renamed != "" {
			notes = append(notes, fmt.Sprintf("%s:%d: providers.%s.plugin: %s is built into sia-agent now: write `plugin: %s`",
				p.File, pr.Line, pr.Name, pr.Renamed, pr.Builtin))
		}
	}
	return notes
}

// report prints every problem in the order of the file, and how many
// there are; it returns code.
func report(w io.Writer, f *commonFlags, problems conf.Problems, code int) int {
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
	for _, pb := range problems {
		fmt.Fprintln(w, pb)
	}
	fmt.Fprintln(w, summary(len(problems), f))
	return code
}

// validatePlugins launches the enabled providers of p whose plugin was
// found and has each validate its config. It returns their problems,
// leaving out those at or below a path of skip (the consequences of a problem
// of the file already reported), and the errors that are not problems
// of a config: a plugin that could not be launched or asked. Each of
// those is among the problems too.
func validatePlugins(f *commonFlags, p *pipeline.Pipeline, skip []conf.Path, stderr io.Writer) (*loaded, conf.Problems, []error) {
	var providers []*pipeline.Provider
	for _, pr := range p.Enabled() {
		if pr.Path != "" || pr.Builtin != "" {
			providers = append(providers, pr)
		}
	}
	log := newLogger(stderr, p).Named("validate")
	plugins, errs := launchAll(context.Background(), f.config, p.Agent.LogLevel, providers, sdk.ModeRefresh, log, nil, "", f.builtinEnv)
	l := &loaded{pipeline: p}
	for _, plug := range plugins {
		if plug != nil {
			l.plugins = append(l.plugins, plug)
		}
	}
	var problems conf.Problems
	var failed []error
	for i, err := range errs {
		var ps conf.Problems
		switch {
		case err == nil:
		case errors.As(err, &ps):
			for _, pb := range ps {
				if !under(pb.Path, skip) {
					problems = append(problems, pb)
				}
			}
		default:
			pr := providers[i]
			failed = append(failed, err)
			problems = append(problems, &conf.Problem{File: f.config, Line: pr.Line,
				Path: byName(conf.P("providers", slices.Index(p.Providers, pr)), p), Message: fmt.Sprintf("cannot run the plugin: %v", err)})
		}
	}
	return l, problems, failed
}

// printProviders prints the providers table of a valid pipeline.
func printProviders(w io.Writer, f *commonFlags, l *loaded) {
	p := l.pipeline
	fmt.Fprintf(w, "%s is valid", f.config)
	if p.Profile != "" {
		fmt.Fprintf(w, " with profile %s", p.Profile)
	}
	fmt.Fprintf(w, ": %d of %d providers enabled\n\n", len(l.plugins), len(p.Providers))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tPROVIDER\tSTATE\tSHUTDOWN\tPLUGIN")
	var budget time.Duration
	for i, pr := range p.Providers {
		if !pr.Enabled {
			fmt.Fprintf(tw, "  %d\t%s\tdisabled\t-\t%s\n", i+1, pr.Name, pr.Plugin)
			continue
		}
		budget += pr.ShutdownTimeout
		plugin := pr.Path
		if pr.Builtin != "" {
			plugin = pr.Builtin + " (built in)"
		}
		if pr.SHA256 != "" {
			plugin += " (sha256 pinned)"
		}
		fmt.Fprintf(tw, "  %d\t%s\tenabled\t%s\t%s\n", i+1, pr.Name, sdk.Duration(pr.ShutdownTimeout), plugin)
	}
	_ = tw.Flush() // the writes above are to the terminal, unchecked too
	fmt.Fprintf(w, "\nProviders start in this order and shut down in reverse. Shutdown takes at most %s\n", sdk.Duration(budget))
	fmt.Fprintln(w, "(the enabled providers' shutdown timeouts added up): keep systemd's TimeoutStopSec and")
	fmt.Fprintln(w, "a pod's terminationGracePeriodSeconds above it.")
}

// summary is the last line of a failed validation.
func summary(n int, f *commonFlags) string {
	s := fmt.Sprintf("%s in %s", plural(n, "problem"), f.config)
	if f.profile != "" {
		s += " with profile " + f.profile
	}
	return s
}

// byName rewrites the providers[i] a path starts with as
// providers.<name>, when the provider has a name.
func byName(path conf.Path, p *pipeline.Pipeline) conf.Path {
	steps := path.Steps()
	if len(steps) < 2 || steps[0] != (conf.Step{Key: "providers"}) || !steps[1].IsIndex {
		return path
	}
	i := steps[1].Index
	if i >= len(p.Providers) || p.Providers[i].Name == "" {
		return path
	}
	rest, _ := path.CutPrefix(conf.P("providers", i))
	return conf.P("providers", p.Providers[i].Name).Join(rest)
}

// located reports problems that all name a line, which salvage needs.
func located(ps conf.Problems) bool {
	for _, p := range ps {
		if p.Line == 0 {
			return false
		}
	}
	return len(ps) > 0
}

// problemPaths returns the paths the problems are about.
func problemPaths(ps conf.Problems) []conf.Path {
	var paths []conf.Path
	for _, p := range ps {
		if !p.Path.IsRoot() {
			paths = append(paths, p.Path)
		}
	}
	return paths
}

// under reports whether path is one of paths or below one of them.
func under(path conf.Path, paths []conf.Path) bool {
	for _, p := range paths {
		if path.HasPrefix(p) {
			return true
		}
	}
	return false
}

// salvage re-reads a pipeline file that did not load because of problems,
// with the text of each problem's key (its block included) blanked out,
// so that the providers the file describes can still validate their
// configs and every problem is reported in one run. Blanking may uncover
// further problems; they are blanked too, for a few rounds at most. It
// reads the file as run does, with the loader and its bounds.
//
// It returns the salvaged pipeline, or nil; the paths whose text was
// blanked (a problem below one of them is a consequence of the blanking,
// not news); and the problems the salvaged file still has, which the
// loader found no more after the first: a plugin that is not found, say.
func salvage(file string, problems conf.Problems, opts pipeline.Options) (*pipeline.Pipeline, []conf.Path, conf.Problems) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, nil, nil //nolint:nilerr // best effort: the problems are reported already
	}
	data, err := pipeline.ReadFile(abs)
	if err != nil {
		return nil, nil, nil //nolint:nilerr // best effort: the problems are reported already
	}
	doc, err := pipeline.Document(file, data)
	if err != nil {
		return nil, nil, nil //nolint:nilerr // best effort: the problems are reported already
	}
	ix := &lineIndex{removed: make(map[int]conf.Path), ends: make(map[conf.Path]int)}
	ix.add(doc.Content[0], conf.Path{}, 1)

	lines := strings.SplitAfter(string(data), "\n")
	blanked := make(map[int]bool)
	const rounds = 5
	for range rounds {
		grew := false
		for _, pb := range problems {
			if pb.Line == 0 {
				return nil, nil, nil
			}
			for l := pb.Line; l <= max(pb.Line, ix.ends[pb.Path]) && l <= len(lines); l++ {
				if !blanked[l] {
					blanked[l], grew = true, true
					lines[l-1] = blank(lines[l-1])
				}
			}
		}
		if !grew {
			return nil, nil, nil
		}
		p, err := pipeline.Parse(file, abs, []byte(strings.Join(lines, "")), opts)
		if p != nil {
			var skip []conf.Path
			for l := range blanked {
				if k, ok := ix.removed[l]; ok {
					skip = append(skip, k)
				}
			}
			return p, skip, conf.AsProblems(err)
		}
		problems = conf.AsProblems(err)
	}
	return nil, nil, nil
}

// indicatorsRE matches the indentation and "- " indicators a line starts
// with.
var indicatorsRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[ \t]*(?:-(?:[ \t]+|$))*`) })

// blank empties a line but for its indentation and "- " indicators, so
// that a sequence keeps its items and the document its shape.
func blank(line string) string {
	text := strings.TrimRight(line, "\r\n")
	return indicatorsRE().FindString(text) + line[len(text):]
}

// lineIndex knows, for a YAML tree, what blanking a line removes and
// where each key's block ends.
type lineIndex struct {
	removed map[int]conf.Path // line → the shallowest path blanking it removes
	ends    map[conf.Path]int // path → last line of its block
}

// add indexes the tree n at path, level levels deep, and returns
// the last line its tree starts a node on. It goes through the tree as
// written, once: an alias is a node of its own line, never the tree it
// refers to. Below the deepest level a pipeline may have, it only finds
// the last line: no problem has a path down there, and a path for each
// level of a deep file would take memory in its depth squared.
func (ix *lineIndex) add(n *yaml.Node, path conf.Path, level int) int {
	if level > pipeline.MaxDepth {
		return lastLine(n)
	}
	last := n.Line
	// record indexes v at key, whose text starts on line; blanking that
	// line removes it if removed.
	record := func(line int, key conf.Path, v *yaml.Node, removed bool) {
		if _, ok := ix.removed[line]; !ok && removed {
			ix.removed[line] = key // before v's keys: the shallowest
		}
		end := ix.add(v, key, level+1)
		ix.ends[key] = end
		last = max(last, end)
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			record(k.Line, path.Key(k.Value), v, true)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			key := path.Index(i)
			// Blanking keeps the "- " of a block item, whose content goes
			// on below; a scalar or flow item goes entirely.
			block := (c.Kind == yaml.MappingNode || c.Kind == yaml.SequenceNode) && c.Style&yaml.FlowStyle == 0
			record(c.Line, key, c, !block)
		}
	}
	return last
}

// lastLine is the last line n's tree starts a node on.
func lastLine(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, lastLine(c))
	}
	return last
}
