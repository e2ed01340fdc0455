package siaenv

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// typed is a provider's config under construction, in the provider's own
// config type (cert.Config, token.Config, ...): a field renamed there
// breaks this package's build, and a key renamed there is the key the
// pipeline gets. Each field set is remembered with the variables it came
// from, which the pipeline names in a comment; node writes the fields set,
// and only those, in the order of the type.
type typed[T any] struct {
	cfg  T
	from map[fieldKey]string // the fields set: where each came from
}

// fieldKey is a field of the config: its address and type (a struct and
// its first field share the address).
type fieldKey struct {
	addr uintptr
	typ  reflect.Type
}

func newTyped[T any]() *typed[T] { return &typed[T]{from: make(map[fieldKey]string)} }

// set sets *field, a field of t's config, to v; from, if not empty, names
// the variables the value came from.
func set[T, V any](t *typed[T], field *V, v V, from string) {
	*field = v
	t.from[keyOf(reflect.ValueOf(field).Elem())] = from
}

func keyOf(v reflect.Value) fieldKey { return fieldKey{addr: v.Addr().Pointer(), typ: v.Type()} }

// node returns the config's fields that were set, as a YAML mapping.
func (t *typed[T]) node() *yaml.Node { return t.object(reflect.ValueOf(&t.cfg).Elem()).node }

// object writes the fields of struct v that were set, and the structs
// below it that have any, in the order of the struct.
func (t *typed[T]) object(v reflect.Value) *object {
	o := newObject()
	t.fields(o, v)
	return o
}

func (t *typed[T]) fields(o *object, v reflect.Value) {
	for i := range v.NumField() {
		sf, f := v.Type().Field(i), v.Field(i)
		key, inline := yamlKey(sf)
		if !sf.IsExported() || key == "-" {
			continue
		}
		if from, ok := t.from[keyOf(f)]; ok {
			o.set(key, value(f), from)
			continue
		}
		if f.Kind() != reflect.Struct {
			continue
		}
		if inline {
			t.fields(o, f)
		} else if child := t.object(f); !child.empty() {
			o.set(key, child.node, "")
		}
	}
}

// yamlKey is a struct field's key, as yaml.v3 reads it, and whether the
// field is inlined.
func yamlKey(sf reflect.StructField) (key string, inline bool) {
	name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if name == "" {
		name = strings.ToLower(sf.Name)
	}
	return name, strings.Contains(","+opts+",", ",inline,")
}

// value is the YAML of a field's value: a string, a bool, a value that
// reads as its String (a duration, a file mode), a list of those, or a
// list of structs, each a flow mapping of its fields that are not zero.
func value(v reflect.Value) *yaml.Node {
	if s, ok := v.Interface().(fmt.Stringer); ok {
		return str(s.String())
	}
	switch v.Kind() {
	case reflect.String:
		return str(v.String())
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case reflect.Slice:
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			seq.Content = append(seq.Content, value(v.Index(i)))
		}
		return seq
	case reflect.Struct:
		o := newObject()
		for i := range v.NumField() {
			if f := v.Field(i); v.Type().Field(i).IsExported() && !f.IsZero() {
				key, _ := yamlKey(v.Type().Field(i))
				o.set(key, value(f), "")
			}
		}
		o.node.Style = yaml.FlowStyle
		return o.node
	}
	// The converter sets strings, bools, durations, modes and lists.
	panic(fmt.Sprintf("siaenv: no YAML for a %s", v.Type()))
}
