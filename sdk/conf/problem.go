package conf

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// A Problem is one thing wrong with a configuration, and where it is.
type Problem struct {
	File    string // the file, as the reader should see it named
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based, in characters; 0 when unknown or not worth saying
	Path    Path   // the value the problem is about, e.g. providers[1].config.address
	Message string // what is wrong, and what to write instead
}

// Error writes the problem as file:line: path: message, leaving out what
// is unknown, e.g. "pipeline.yaml:12: providers[0].config.port: must be
// more than 0". A column follows the line when it is set.
func (p *Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteByte(':')
	}
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteByte(':')
		if p.Column > 0 {
			b.WriteString(strconv.Itoa(p.Column))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if !p.Path.IsRoot() {
		b.WriteString(p.Path.String())
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is a list of problems; as an error, one problem a line.
type Problems []*Problem

// Error writes each problem on a line of its own, in the order held.
func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "\n")
}

// Err sorts ps by line, keeping the order of problems on one line, and
// returns it as an error; nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps
}

// AsProblems flattens err into problems: Problems or a *Problem, wrapped
// or not, stay as they are; any other error becomes one problem with its
// text as the message and nothing else known.
func AsProblems(err error) Problems {
	if err == nil {
		return nil
	}
	var ps Problems
	if errors.As(err, &ps) {
		return ps
	}
	var p *Problem
	if errors.As(err, &p) {
		return Problems{p}
	}
	return Problems{{Message: err.Error()}}
}
