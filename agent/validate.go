package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Validation is what `sia-agent validate` reports.
type Validation struct {
	// Pipeline is the pipeline as loaded, or salvaged from a file with
	// problems; nil when nothing could be salvaged.
	Pipeline *pipeline.Pipeline
	// Err, when set, is why the file could not be read as a pipeline at
	// all (it cannot be read, is empty, ...): there is nothing more.
	Err error
	// Problems are every problem found, of the file and of each enabled
	// provider's config, in the order of the file.
	Problems conf.Problems
	// Enabled is how many providers validated their config.
	Enabled int
	// Notes are what is not wrong but worth changing.
	Notes []string
	// Code is the exit code: 0 for a valid pipeline.
	Code int
}

// Validate loads the pipeline and has every enabled provider's plugin
// validate its configuration; it starts nothing. It reports every problem
// at once: those of the file and those of each provider's config, even
// when the file has problems (see salvage), each as file:line: key:
// message. Problems name providers by name (providers.<name>...), as the
// plugins do, which reads better than providers[2]....
func Validate(ctx context.Context, opts Options) *Validation {
	popts := pipelineOptions(opts)
	p, err := pipeline.Load(opts.Config, popts)
	problems := conf.AsProblems(err)
	if err != nil && !located(problems) {
		// Nothing to salvage: the file cannot be read, is empty, ...
		return &Validation{Err: err, Problems: problems, Code: ExitConfig}
	}
	skip := problemPaths(problems)
	var uncovered conf.Problems
	if p == nil {
		var blanked []conf.Path
		p, blanked, uncovered = salvage(opts.Config, problems, popts)
		skip = append(skip, blanked...)
	}
	if p == nil {
		return done(&Validation{Problems: problems}, ExitConfig)
	}
	override(p, opts)
	v := &Validation{Pipeline: p}
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
	more, failed := v.validateProviders(ctx, opts, skip)
	switch configProblems := len(problems) + len(more) - len(failed); {
	case configProblems > 0:
		// A plugin that cannot run is worth hearing about, but the
		// configuration is what needs fixing first.
		v.Problems = append(problems, more...)
		return done(v, ExitConfig)
	case len(failed) > 0:
		v.Problems = more
		return done(v, exitCode(failed))
	}
	v.Notes = renameNotes(p)
	return v
}

// done sorts v's problems in the order of the file and sets its code.
func done(v *Validation, code int) *Validation {
	sort.SliceStable(v.Problems, func(i, j int) bool { return v.Problems[i].Line < v.Problems[j].Line })
	v.Code = code
	return v
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

// validateProviders launches the enabled providers of v's pipeline whose
// plugin was found, has each validate its config and ends them. It
// returns their problems, leaving out those at or below a path of skip
// (the consequences of a problem of the file already reported), and the
// errors that are not problems of a config: a plugin that could not be
// launched or asked. Each of those is among the problems too.
func (v *Validation) validateProviders(ctx context.Context, opts Options, skip []conf.Path) (conf.Problems, []error) {
	p := v.Pipeline
	var entries []*pipeline.Provider
	for _, pr := range p.Enabled() {
		if pr.Path != "" || pr.Builtin != "" {
			entries = append(entries, pr)
		}
	}
	l := newLauncher(opts, p, newLogger(opts.Log, p).Named("validate"), nil, "")
	providers := l.launchAll(ctx, entries, sdk.ModeRefresh)
	defer kill(providers)
	var problems conf.Problems
	var failed []error
	for _, pr := range providers {
		if pr.Process != nil {
			v.Enabled++
		}
		var ps conf.Problems
		switch err := pr.err; {
		case err == nil:
		case errors.As(err, &ps):
			for _, pb := range ps {
				if !under(pb.Path, skip) {
					problems = append(problems, pb)
				}
			}
		default:
			failed = append(failed, err)
			problems = append(problems, &conf.Problem{File: opts.Config, Line: pr.entry.Line,
				Path: byName(conf.P("providers", slices.Index(p.Providers, pr.entry)), p), Message: fmt.Sprintf("cannot run the plugin: %v", err)})
		}
	}
	return problems, failed
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
