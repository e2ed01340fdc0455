// Package names checks the names an operator gives things in a pipeline
// file: providers and hooks.
package names

// Valid reports a name of letters, digits, '.', '_' and '-' that starts
// with a letter or digit: safe in a log line, a metric label and a file
// name. (A function rather than a regexp compiled at init: every plugin
// process runs the agent's package inits.)
func Valid(name string) bool {
	for i, c := range []byte(name) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return name != ""
}
