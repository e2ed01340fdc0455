package pluginpb

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
)

const configText = `# a provider's config block
endpoint: https://zts:4443
quoted: "true"
plain: true
number: 42
nothing: ~
empty:
tls:
  cert: c.pem
  key: k.pem
roles:
  - {domain: sports, role: readers}
  - &media
    domain: media
    role: writers
again: *media
text: |
  two
  lines
`

func parseYAML(t *testing.T, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// roundTrip converts n to the protocol's Node, through the wire, and back.
func roundTrip(t *testing.T, n *yaml.Node) *yaml.Node {
	t.Helper()
	b, err := proto.Marshal(FromYAML(n))
	if err != nil {
		t.Fatal(err)
	}
	var wire Node
	if err := proto.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	return wire.YAML()
}

func TestYAMLRoundTripKeepsValues(t *testing.T) {
	doc := parseYAML(t, configText)
	back := roundTrip(t, doc)
	var want, got map[string]any
	if err := doc.Decode(&want); err != nil {
		t.Fatal(err)
	}
	if err := back.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the values:\n got %#v\nwant %#v", got, want)
	}
	if got["quoted"] != "true" || got["plain"] != true || got["number"] != 42 || got["nothing"] != nil {
		t.Errorf("scalar types not kept: %#v", got)
	}
}

// Positions survive the round trip, so that a plugin's errors name the
// lines of the pipeline file.
func TestYAMLRoundTripKeepsLines(t *testing.T) {
	doc := parseYAML(t, configText)
	back := roundTrip(t, doc)
	var walk func(a, b *yaml.Node, path string)
	walk = func(a, b *yaml.Node, path string) {
		for a.Kind == yaml.AliasNode {
			a = a.Alias // the wire has no aliases: it carries their target
		}
		if a.Line != b.Line || a.Column != b.Column || a.Value != b.Value || a.Tag != b.Tag || a.Kind != b.Kind {
			t.Errorf("%s: got {%v %q %q %d:%d}, want {%v %q %q %d:%d}", path,
				b.Kind, b.Tag, b.Value, b.Line, b.Column, a.Kind, a.Tag, a.Value, a.Line, a.Column)
			return
		}
		if len(a.Content) != len(b.Content) {
			t.Errorf("%s: %d children, want %d", path, len(b.Content), len(a.Content))
			return
		}
		for i := range a.Content {
			walk(a.Content[i], b.Content[i], path+"/"+a.Content[i].Value)
		}
	}
	walk(doc.Content[0], back, "")
	if back.Line != 2 {
		t.Errorf("the block starts on line %d, want 2", back.Line)
	}
}

func TestFromYAMLUnwrapsDocumentsAndAliases(t *testing.T) {
	doc := parseYAML(t, "a: &x {k: v}\nb: *x\n")
	n := FromYAML(doc)
	if n.GetKind() != Node_MAPPING || len(n.GetContent()) != 4 {
		t.Fatalf("document not unwrapped: %v", n)
	}
	alias := n.GetContent()[3]
	if alias.GetKind() != Node_MAPPING || alias.GetLine() != 1 || alias.GetContent()[1].GetValue() != "v" {
		t.Errorf("alias not resolved to its target: %v", alias)
	}
}

func TestNilNodes(t *testing.T) {
	if FromYAML(nil) != nil {
		t.Error("FromYAML(nil) != nil")
	}
	var n *Node
	if n.YAML() != nil {
		t.Error("(*Node)(nil).YAML() != nil")
	}
}
