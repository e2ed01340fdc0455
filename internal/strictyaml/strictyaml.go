// Package strictyaml decodes YAML nodes into Go values and, unlike yaml.v3's
// Node.Decode, rejects keys that match no field, naming the file, line and
// key of every problem it finds.
package strictyaml

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a YAML document.
type Problem struct {
	File    string
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based, in characters; 0 when unknown or not worth saying
	Key     string // dotted path of the offending key, e.g. providers[1].config.address
	Message string
}

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
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is a list of problems; it is an error when not empty.
type Problems []*Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "\n")
}

// Err returns ps as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps
}

// AsProblems flattens err into problems: a Problems or *Problem stays as it
// is, anything else becomes one problem without a position.
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

// Decode decodes n into v, which must be a non-nil pointer. Type errors and
// keys that match no field of v are reported as Problems naming file, line
// and key; base is the key path of n itself ("" for a document root).
func Decode(file, base string, n *yaml.Node, v any) error {
	if n == nil {
		return nil
	}
	var ps Problems
	w := walker{file: file, problems: &ps}
	w.walk(n, reflect.TypeOf(v), base)
	if err := n.Decode(v); err != nil {
		ps = append(ps, typeProblems(file, base, n, err)...)
	}
	return ps.Err()
}

var (
	lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)
	// valueRE picks the tag and value out of yaml.v3's "cannot unmarshal
	// !!str `abc` into int"; the value is absent for sequences and mappings.
	valueRE = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `([^`]*)`)? into ")
)

// typeProblems turns yaml.v3's "line N: cannot unmarshal ..." messages into
// problems with a position and, found in n, the key.
func typeProblems(file, base string, n *yaml.Node, err error) Problems {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	ps := make(Problems, 0, len(msgs))
	for _, msg := range msgs {
		p := &Problem{File: file, Message: msg}
		if m := lineRE.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = m[2]
			p.Key = keyAt(n, base, p.Line, p.Message)
		}
		ps = append(ps, p)
	}
	return ps
}

// keyAt finds the key path of the node on line that msg is about: the
// first node on that line whose tag and value match the ones msg quotes,
// else the first key or scalar on that line, else the first node there.
func keyAt(root *yaml.Node, base string, line int, msg string) string {
	var tag, value string
	abbreviated := false
	if m := valueRE.FindStringSubmatch(msg); m != nil {
		tag, value = m[1], m[2]
		value, abbreviated = strings.CutSuffix(value, "...")
	}
	matches := func(n *yaml.Node) bool {
		switch {
		case tag == "" || n.Kind == yaml.DocumentNode || n.ShortTag() != tag:
			return false
		case abbreviated:
			return strings.HasPrefix(n.Value, value)
		}
		return n.Kind != yaml.ScalarNode || n.Value == value
	}
	var match, first, firstAny string
	found := false
	var visit func(n *yaml.Node, path string)
	visit = func(n *yaml.Node, path string) {
		if found {
			return
		}
		if n.Line == line {
			if matches(n) {
				match, found = path, true
				return
			}
			if path != base && firstAny == "" {
				firstAny = path
			}
			if path != base && first == "" && n.Kind == yaml.ScalarNode {
				first = path
			}
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				visit(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := join(path, n.Content[i].Value)
				if n.Content[i].Line == line && first == "" {
					first = k
				}
				visit(n.Content[i+1], k)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				visit(c, path+"["+strconv.Itoa(i)+"]")
			}
		}
	}
	visit(root, base)
	switch {
	case found:
		return match
	case first != "":
		return first
	}
	return firstAny
}

type walker struct {
	file     string
	problems *Problems
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	// obsoleteUnmarshalerType is yaml.v2's interface, which yaml.v3 still
	// honours.
	obsoleteUnmarshalerType = reflect.TypeOf((*interface {
		UnmarshalYAML(unmarshal func(any) error) error
	})(nil)).Elem()
	nodeType = reflect.TypeOf(yaml.Node{})
)

// unmarshals reports a type that decodes itself: its keys are its business.
func unmarshals(t reflect.Type) bool {
	return t.Implements(unmarshalerType) || t.Implements(obsoleteUnmarshalerType)
}

func (w walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t != nil && t.Kind() == reflect.Pointer {
		if unmarshals(t) {
			return
		}
		t = t.Elem()
	}
	if t == nil || t == nodeType || unmarshals(reflect.PointerTo(t)) || unmarshals(t) {
		return
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields, open := fieldsOf(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				if !open {
					w.unknown(k, path, fields)
				}
				continue
			}
			w.walk(val, ft, join(path, k.Value))
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			w.walk(c, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	}
}

func (w walker) unknown(k *yaml.Node, path string, fields map[string]reflect.Type) {
	msg := fmt.Sprintf("unknown key %q", k.Value)
	if s := suggest(k.Value, fields); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(fields) > 0 {
		msg += " (known keys: " + strings.Join(sortedKeys(fields), ", ") + ")"
	}
	*w.problems = append(*w.problems, &Problem{File: w.file, Line: k.Line, Key: join(path, k.Value), Message: msg})
}

// fieldsOf maps the YAML keys of struct type t to their types. open reports
// an inline map, which accepts any key.
func fieldsOf(t reflect.Type) (fields map[string]reflect.Type, open bool) {
	fields = make(map[string]reflect.Type)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			// yaml.v3 skips unexported fields, but not embedded ones.
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Map {
				open = true
				continue
			}
			inner, innerOpen := fieldsOf(ft)
			for k, v := range inner {
				fields[k] = v
			}
			open = open || innerOpen
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields, open
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest returns the known key closest to key, if it is close enough to be
// a likely typo.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestDist := "", len(key)/3+1
	for _, k := range sortedKeys(fields) {
		if d := Distance(strings.ToLower(key), k); d < bestDist || (d == bestDist && best == "" && d <= 2) {
			best, bestDist = k, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b: how many letters
// to insert, delete or change to turn one into the other. It ranks
// did-you-mean suggestions.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
