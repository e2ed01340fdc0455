package conf

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// A Validator is a configuration value that checks itself. Decode calls
// Validate on the value it decoded into and on every value in it that
// implements it: struct fields (at their YAML keys; an inline struct's
// fields at its holder's), slice and array elements, map values and
// pointer targets.
//
// A value's parts are validated before the value, so that a Validate with
// a pointer receiver may also normalise its value (lower-case a name,
// derive a default) and the value holding it sees the result. A type that
// decodes itself (UnmarshalYAML) is validated as a whole: the walk does not
// look inside it.
//
// The paths of the problems Validate returns are relative to the value:
// Decode prefixes them with the value's path and finds their lines. Use a
// Checker to collect them. Any other error is a problem of the value
// itself.
type Validator interface {
	// Validate returns nil, a Checker's Err, or another error.
	Validate() error
}

// A Checker collects the problems of one value for its Validate method,
// each about a key or a path below the value. The zero Checker is ready to
// use:
//
//	func (c *RefreshConfig) Validate() error {
//		var check conf.Checker
//		if c.Concurrency < 1 {
//			check.Errorf("concurrency", "must be at least 1, not %d", c.Concurrency)
//		}
//		for i, t := range c.Targets {
//			if t == "" {
//				check.ErrorfAt(conf.P("targets", i), "empty target")
//			}
//		}
//		return check.Err()
//	}
type Checker struct {
	problems Problems
}

// Errorf records a problem with the value's key (a field's YAML name, taken
// whole: dots are part of the name), or with the value itself when key is
// "".
func (c *Checker) Errorf(key, format string, args ...any) {
	var path Path
	if key != "" {
		path = path.Key(key)
	}
	c.ErrorfAt(path, format, args...)
}

// ErrorfAt records a problem at path below the value, such as
// conf.P("tls", "cert_file") or conf.P("ips", 2).
func (c *Checker) ErrorfAt(path Path, format string, args ...any) {
	c.problems = append(c.problems, &Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Err returns the problems recorded, or nil when there are none.
func (c *Checker) Err() error { return c.problems.Err() }

var validatorType = reflect.TypeFor[Validator]()

// validate calls Validate on v and every value in it (see Validator),
// locating the problems in n, the node v was decoded from, at path in file.
func validate(file string, path Path, n *yaml.Node, v any) error {
	w := validation{file: file, base: path, root: n}
	w.value(reflect.ValueOf(v), Path{})
	return w.problems.Err()
}

type validation struct {
	file     string
	base     Path
	root     *yaml.Node
	problems Problems
}

// value validates v, found at path below the root, and every value in it.
func (w *validation) value(v reflect.Value, path Path) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			w.value(v.Elem(), path)
		}
		return
	case reflect.Struct:
		if v.Type() != nodeType && !selfDecoding(v.Type()) {
			w.fields(v, path)
		}
	case reflect.Slice, reflect.Array:
		if !selfDecoding(v.Type()) && !plain(v.Type().Elem()) {
			for i := range v.Len() {
				w.value(v.Index(i), path.Index(i))
			}
		}
	case reflect.Map:
		if !selfDecoding(v.Type()) && !plain(v.Type().Elem()) {
			w.mapValues(v, path)
		}
	}
	w.call(v, path)
}

// plain reports a type of scalars without a Validate: nothing in a list
// of them needs a look.
func plain(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return !t.Implements(validatorType) && !reflect.PointerTo(t).Implements(validatorType)
	}
	return false
}

// fields validates the fields of struct v that YAML decodes. An embedded
// unexported struct is left out: reflection may read its fields but not
// call their methods.
func (w *validation) fields(v reflect.Value, path Path) {
	for _, f := range yamlFields(v.Type()) {
		fv := v.FieldByIndex(f.Index)
		switch {
		case !f.IsExported():
		case f.inline:
			w.value(fv, path)
		default:
			w.value(fv, path.Key(f.key))
		}
	}
}

// mapValues validates the values of map v, in the order of their keys.
// Each is validated in a copy, which is stored back, so that a Validate
// with a pointer receiver can run and normalise it.
func (w *validation) mapValues(v reflect.Value, path Path) {
	keys := v.MapKeys()
	names := make([]string, len(keys))
	order := make([]int, len(keys))
	for i, k := range keys {
		names[i], order[i] = fmt.Sprint(k), i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	for _, i := range order {
		cp := reflect.New(v.Type().Elem()).Elem()
		cp.Set(v.MapIndex(keys[i]))
		w.value(cp, path.Key(names[i]))
		v.SetMapIndex(keys[i], cp)
	}
}

// call calls v's Validate, if it has one, and records its problems.
func (w *validation) call(v reflect.Value, path Path) {
	var val Validator
	switch {
	case !v.CanInterface():
		return
	case v.CanAddr() && v.Addr().Type().Implements(validatorType):
		val = v.Addr().Interface().(Validator)
	case v.Type().Implements(validatorType) && v.CanInterface():
		val = v.Interface().(Validator)
	default:
		return
	}
	for _, p := range AsProblems(val.Validate()) {
		w.add(*p, path)
	}
}

// add records p, a problem of the value at path, with its path below the
// base and, unless it has one, its file and line.
func (w *validation) add(p Problem, path Path) {
	rel := path.Join(p.Path)
	p.Path = w.base.Join(rel)
	if p.File == "" {
		p.File = w.file
	}
	if p.Line == 0 {
		_, p.Line = Lookup(w.root, rel)
	}
	w.problems = append(w.problems, &p)
}
