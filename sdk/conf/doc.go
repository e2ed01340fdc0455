// Package conf reads YAML configuration and reports what is wrong with it
// the way a person fixing the file needs it: every problem at once, each
// naming the file, the line and the key.
//
//	pipeline.yaml:12: providers.token.config.refresh.concurrency: must be at least 1
//
// A configuration is a Go struct with yaml tags whose types check
// themselves: each implements Validator, and reports problems about its own
// keys with a Checker. Decode decodes a YAML node into the struct strictly
// (an unknown key is a problem, with a did-you-mean suggestion), then walks
// the result and calls every Validate it finds, prefixing each problem with
// the path of the value that reported it and finding its line in the
// document. No check ever builds a key path by hand: a Target validates
// itself, and the walk puts its problems at targets[2].
//
//	type Target struct {
//		Domain string   `yaml:"domain"`
//		Roles  []string `yaml:"roles"`
//	}
//
//	func (t Target) Validate() error {
//		var c conf.Checker
//		if t.Domain == "" {
//			c.Errorf("domain", "required")
//		}
//		return c.Err()
//	}
//
// A Path is a location in a document, built step by step (P("targets", 2,
// "domain")), and Lookup finds a path's node and line. A Problem is one
// finding, Problems a list of them and an error. Parse parses text into a
// document, locating syntax errors and characters YAML does not allow; a
// Measurer measures a document with its aliases expanded, so that a reader
// can bound what a small file may stand for.
//
// Providers of sia-agent get their configuration as an sdk.Config, whose
// Decode is this package's.
package conf
