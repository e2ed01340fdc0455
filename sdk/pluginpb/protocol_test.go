package pluginpb

import (
	"encoding/json"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// A marker line is one JSON line that the agent's reading of it numbers,
// and no other log line is taken for a marker.
func TestLogSyncLineRoundTrip(t *testing.T) {
	line := LogSyncLine(42)
	if !strings.HasSuffix(line, "}\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("LogSyncLine(42) = %q: want one line", line)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(line), &entry); err != nil {
		t.Fatal(err)
	}
	if seq, ok := LogSyncSeq(entry); !ok || seq != 42 {
		t.Errorf("LogSyncSeq = %d, %v; want 42, true", seq, ok)
	}
	for _, other := range []map[string]any{
		{"@message": "Started", "seq": float64(3)},
		{"@message": LogSyncMessage},
		{"@message": LogSyncMessage, "seq": "3"},
		{"@message": LogSyncMessage, "seq": float64(0)},
	} {
		if seq, ok := LogSyncSeq(other); ok {
			t.Errorf("LogSyncSeq(%v) = %d, true; want not a marker", other, seq)
		}
	}
}

func TestFamiliesRoundTrip(t *testing.T) {
	in := []*dto.MetricFamily{{Name: proto.String("a_total"), Type: dto.MetricType_COUNTER.Enum(),
		Metric: []*dto.Metric{{Counter: &dto.Counter{Value: proto.Float64(3)}}}}}
	raw, err := MarshalFamilies(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := UnmarshalFamilies(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || !proto.Equal(in[0], out[0]) {
		t.Errorf("round trip: got %v, want %v", out, in)
	}
	if _, err := UnmarshalFamilies([][]byte{{0xff}}); err == nil {
		t.Error("UnmarshalFamilies of garbage: no error")
	}
}
