package conf

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Decode decodes n, the value at path in file, into v, which must be a
// non-nil pointer, and then validates it (see Validator).
//
// Decoding is strict: a key that matches no field of v, or a value of the
// wrong type, is a problem naming the file, the line and the path, with a
// suggestion for a misspelt key. A value that did not decode is not
// validated: its checks would complain about what is missing. A nil or
// null n decodes nothing and leaves v as it is, so set defaults in v
// first; they are validated all the same.
//
// The error, if any, is Problems with every problem found, sorted by line.
func Decode(file string, path Path, n *yaml.Node, v any) error {
	if !isNull(n) {
		ps := unknownKeys(file, path, n, reflect.TypeOf(v))
		if err := n.Decode(v); err != nil {
			ps = append(ps, typeProblems(file, path, n, err)...)
		}
		if len(ps) > 0 {
			return ps.Err()
		}
	}
	return validate(file, path, n, v)
}

// The patterns of yaml.v3's messages are compiled when a message comes:
// every process that links the package would pay for them at start, and
// most never see one.
var (
	lineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^line (\d+): (.*)$`) })
	// valueRE picks the tag and value out of yaml.v3's "cannot unmarshal
	// !!str `abc` into int"; the value is absent for sequences and mappings.
	valueRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `([^`]*)`)? into ")
	})
)

// typeProblems turns yaml.v3's "line N: cannot unmarshal ..." messages into
// problems with a position and, found in n, the path.
func typeProblems(file string, base Path, n *yaml.Node, err error) Problems {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	ps := make(Problems, 0, len(msgs))
	for _, msg := range msgs {
		p := &Problem{File: file, Message: msg}
		if m := lineRE().FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = m[2]
			p.Path = base.Join(pathAt(n, p.Line, p.Message))
		}
		ps = append(ps, p)
	}
	return ps
}

// pathAt finds the path of the node on line that msg is about: the first
// node on that line whose tag and value match the ones msg quotes, else
// the first key or scalar on that line, else the first node there.
func pathAt(root *yaml.Node, line int, msg string) Path {
	f := finder{line: line}
	if m := valueRE().FindStringSubmatch(msg); m != nil {
		f.tag, f.value = m[1], m[2]
		f.value, f.abbreviated = strings.CutSuffix(f.value, "...")
	}
	f.visit(root, Path{})
	switch {
	case f.found:
		return f.match
	case f.haveFirst:
		return f.first
	}
	return f.firstAny
}

// finder is pathAt's search of the tree.
type finder struct {
	line        int
	tag, value  string
	abbreviated bool // value is the start of the node's value

	match, first, firstAny Path
	found, haveFirst       bool
}

// matches reports whether n is the node with the tag and value sought.
func (f *finder) matches(n *yaml.Node) bool {
	switch {
	case f.tag == "" || n.Kind == yaml.DocumentNode || n.ShortTag() != f.tag:
		return false
	case f.abbreviated:
		return strings.HasPrefix(n.Value, f.value)
	}
	return n.Kind != yaml.ScalarNode || n.Value == f.value
}

func (f *finder) visit(n *yaml.Node, path Path) {
	if f.found {
		return
	}
	if n.Line == f.line {
		if f.onLine(n, path); f.found {
			return
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			f.visit(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := path.Key(n.Content[i].Value)
			if n.Content[i].Line == f.line && !f.haveFirst {
				f.first, f.haveFirst = k, true
			}
			f.visit(n.Content[i+1], k)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			f.visit(c, path.Index(i))
		}
	}
}

// onLine notes n, at path on the line sought: the match, or a candidate.
func (f *finder) onLine(n *yaml.Node, path Path) {
	switch {
	case f.matches(n):
		f.match, f.found = path, true
	case path.IsRoot():
	default:
		if f.firstAny.IsRoot() {
			f.firstAny = path
		}
		if !f.haveFirst && n.Kind == yaml.ScalarNode {
			f.first, f.haveFirst = path, true
		}
	}
}

// unknownKeys finds the keys of n that match no field of the type t
// decodes them into.
func unknownKeys(file string, base Path, n *yaml.Node, t reflect.Type) Problems {
	var ps Problems
	w := keyWalker{file: file, problems: &ps}
	w.walk(n, t, base)
	return ps
}

type keyWalker struct {
	file     string
	problems *Problems
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	// obsoleteUnmarshalerType is yaml.v2's interface, which yaml.v3 still
	// honours.
	obsoleteUnmarshalerType = reflect.TypeFor[interface {
		UnmarshalYAML(unmarshal func(any) error) error
	}]()
	nodeType = reflect.TypeFor[yaml.Node]()
)

// unmarshals reports a type that decodes itself: its keys are its business.
func unmarshals(t reflect.Type) bool {
	return t.Implements(unmarshalerType) || t.Implements(obsoleteUnmarshalerType)
}

// selfDecoding reports a type whose keys are not the walk's business: a
// yaml.Node, or a type that decodes itself.
func selfDecoding(t reflect.Type) bool {
	return t == nodeType || unmarshals(t) || unmarshals(reflect.PointerTo(t))
}

// decodedType is the type that yaml.v3 decodes into through t's pointers,
// or nil when that is not the walk's business (see selfDecoding).
func decodedType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		if unmarshals(t) {
			return nil
		}
		t = t.Elem()
	}
	if t == nil || selfDecoding(t) {
		return nil
	}
	return t
}

func (w keyWalker) walk(n *yaml.Node, t reflect.Type, path Path) {
	n = resolve(n)
	if t = decodedType(t); t == nil || n == nil {
		return
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		w.fields(n, t, path)
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.walk(n.Content[i+1], t.Elem(), path.Key(n.Content[i].Value))
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			w.walk(c, t.Elem(), path.Index(i))
		}
	}
}

// fields walks the mapping n that decodes into struct type t.
func (w keyWalker) fields(n *yaml.Node, t reflect.Type, path Path) {
	fields, open := fieldsOf(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Value == "<<" {
			continue
		}
		ft, ok := fields[k.Value]
		switch {
		case ok:
			w.walk(val, ft, path.Key(k.Value))
		case !open:
			w.unknown(k, path, fields)
		}
	}
}

func (w keyWalker) unknown(k *yaml.Node, path Path, fields map[string]reflect.Type) {
	known := sortedKeys(fields)
	msg := fmt.Sprintf("unknown key %q", k.Value)
	if s := suggest(k.Value, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(known) > 0 {
		msg += " (known keys: " + strings.Join(known, ", ") + ")"
	}
	*w.problems = append(*w.problems, &Problem{File: w.file, Line: k.Line, Path: path.Key(k.Value), Message: msg})
}

// fieldsOf maps the YAML keys of struct type t to their types. open reports
// an inline map, which accepts any key.
func fieldsOf(t reflect.Type) (fields map[string]reflect.Type, open bool) {
	fields = make(map[string]reflect.Type)
	for _, f := range yamlFields(t) {
		if f.inline {
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
		fields[f.key] = f.Type
	}
	return fields, open
}

// yamlField is a struct field as yaml.v3 decodes it.
type yamlField struct {
	reflect.StructField
	key    string // its key; "" when inline
	inline bool
}

// yamlFields lists the fields of struct type t that yaml.v3 decodes, with
// their keys.
func yamlFields(t reflect.Type) []yamlField {
	var out []yamlField
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
			out = append(out, yamlField{StructField: f, inline: true})
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, yamlField{StructField: f, key: name})
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest returns the one of known (sorted) closest to key, if it is close
// enough to be a likely typo.
func suggest(key string, known []string) string {
	best, bestDist := "", len(key)/3+1
	for _, k := range known {
		if d := Distance(strings.ToLower(key), k); d < bestDist || (d == bestDist && best == "" && d <= 2) {
			best, bestDist = k, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b: how many letters
// to insert, delete or change to turn one into the other. It ranks the
// did-you-mean suggestions for unknown keys; use it for those of your own.
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
