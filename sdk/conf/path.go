package conf

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// A Path locates a value in a YAML document: the keys and indexes that
// lead from the document's root to it. The zero Path is the root itself.
//
// A Path is built step by step (Key, Index, Join, P) and never parsed from
// text, so a key may hold dots or brackets. Paths are immutable values:
// a method returns a new Path and leaves its receiver as it was. They are
// comparable: == tells whether two are the same path, and a Path can key
// a map.
type Path struct {
	// enc holds the steps one after the other, each a tag byte followed
	// by its value: 'k', the key's length as a uvarint and the key; or
	// 'i' and the index as a uvarint. No step's encoding is a prefix of
	// another's, so a path's encoding starts with its prefixes'.
	enc string
}

// A Step is one step of a Path: into a mapping by a key, or into a
// sequence by an index.
type Step struct {
	Key     string // the key, for a step into a mapping
	Index   int    // the index, for a step into a sequence
	IsIndex bool   // whether the step is into a sequence
}

const (
	keyTag   = 'k'
	indexTag = 'i'
)

// P builds a Path from steps: a string is a key, an int an index, and a
// Path or a Step is appended as it is. P("targets", 2, "domain") is the
// path targets[2].domain. Any other type is a programming error: P panics.
func P(steps ...any) Path {
	var b []byte // built in one go: a step at a time would copy a long path once a step
	for _, s := range steps {
		switch s := s.(type) {
		case string:
			b = appendStep(b, Step{Key: s})
		case int:
			b = appendStep(b, Step{Index: s, IsIndex: true})
		case Path:
			b = append(b, s.enc...)
		case Step:
			b = appendStep(b, s)
		default:
			panic(fmt.Sprintf("conf.P: a step is a string, an int, a Path or a Step, not %T", s))
		}
	}
	return Path{enc: string(b)}
}

// Key returns p followed by the mapping key name.
func (p Path) Key(name string) Path { return p.step(Step{Key: name}) }

// Index returns p followed by the sequence index i, which must not be
// negative.
func (p Path) Index(i int) Path { return p.step(Step{Index: i, IsIndex: true}) }

// Join returns p followed by the steps of q.
func (p Path) Join(q Path) Path { return Path{enc: p.enc + q.enc} }

func (p Path) step(s Step) Path {
	b := make([]byte, 0, len(p.enc)+1+binary.MaxVarintLen64+len(s.Key))
	return Path{enc: string(appendStep(append(b, p.enc...), s))}
}

// appendStep appends the encoding of s to b.
func appendStep(b []byte, s Step) []byte {
	if s.IsIndex {
		if s.Index < 0 {
			panic(fmt.Sprintf("conf: negative index %d", s.Index))
		}
		return binary.AppendUvarint(append(b, indexTag), uint64(s.Index))
	}
	b = binary.AppendUvarint(append(b, keyTag), uint64(len(s.Key)))
	return append(b, s.Key...)
}

// Steps returns the steps of p, from the root down.
func (p Path) Steps() []Step {
	var steps []Step
	for rest := p.enc; rest != ""; {
		var s Step
		s, rest = next(rest)
		steps = append(steps, s)
	}
	return steps
}

// next decodes the first step of enc and returns it with the rest.
func next(enc string) (Step, string) {
	tag := enc[0]
	n, size := binary.Uvarint([]byte(enc[1:min(len(enc), 1+binary.MaxVarintLen64)]))
	rest := enc[1+size:]
	if tag == indexTag {
		return Step{Index: int(n), IsIndex: true}, rest //nolint:gosec // G115: encoded from an int by this package
	}
	return Step{Key: rest[:n]}, rest[n:]
}

// IsRoot reports whether p has no steps: the root of the document.
func (p Path) IsRoot() bool { return p.enc == "" }

// HasPrefix reports whether p starts with the steps of q: whether the
// value at p is the one at q or inside it.
func (p Path) HasPrefix(q Path) bool { return strings.HasPrefix(p.enc, q.enc) }

// CutPrefix returns p without the steps of q and true when p starts with
// them, or p and false.
func (p Path) CutPrefix(q Path) (Path, bool) {
	rest, ok := strings.CutPrefix(p.enc, q.enc)
	if !ok {
		return p, false
	}
	return Path{enc: rest}, true
}

// String writes p as problems name it: keys joined by dots, indexes in
// brackets, as in providers.token.config.targets[2].domain.
func (p Path) String() string {
	var b strings.Builder
	for rest := p.enc; rest != ""; {
		var s Step
		s, rest = next(rest)
		switch {
		case s.IsIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.Index))
			b.WriteByte(']')
		case b.Len() > 0:
			b.WriteByte('.')
			fallthrough
		default:
			b.WriteString(s.Key)
		}
	}
	return b.String()
}
