package pluginpb

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// The handshake between the agent and its plugins.
const (
	// ProtocolVersion is the version of the plugin protocol. Version 2
	// replaced go-plugin's AutoMTLS with the agent's channel keys and gave
	// configuration problems typed paths.
	ProtocolVersion = 2
	// PluginName is the name the provider service is dispensed under.
	PluginName = "provider"
	// MagicCookieKey and MagicCookieValue tell a plugin binary that the
	// agent launched it; run by hand, it explains that it is a plugin.
	MagicCookieKey   = "SIA_AGENT_PLUGIN"
	MagicCookieValue = "b2f1c6a4-athenz-sia-provider"
)

// EnvLogLevel carries the agent's log level to its plugins: trace, debug,
// info, warn or error.
const EnvLogLevel = "SIA_LOG_LEVEL"

// Handshake is the go-plugin handshake of ProtocolVersion.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// The levels at which the agent relays what a plugin wrote to os.Stdout
// and os.Stderr once it serves (see Output in the package documentation).
const (
	StdoutLevel = hclog.Info
	StderrLevel = hclog.Warn
)

// StdlibLogLevel is the level at which a plugin logs what the standard
// library's log package writes, unless the line starts with a level in
// brackets ("[DEBUG] ..."), which it keeps.
const StdlibLogLevel = hclog.Warn

// LogSyncMessage is the message of the marker lines a plugin writes to
// its standard error, so that the agent can keep the plugin's log lines
// in order with its own: each lifecycle call's response names the marker
// the plugin wrote just before answering (StartResponse.log_seq), and the
// agent waits until it has relayed that marker.
const LogSyncMessage = "sia-log-sync"

// LogSyncLine is the marker line numbered seq, newline included: an hclog
// JSON line at trace level, short enough to be written to a pipe at once.
func LogSyncLine(seq uint64) string {
	return fmt.Sprintf("{\"@level\":\"trace\",\"@message\":%q,\"seq\":%d}\n", LogSyncMessage, seq)
}

// LogSyncSeq returns the number of the marker that entry, a decoded JSON
// log line, is, and whether it is one.
func LogSyncSeq(entry map[string]any) (uint64, bool) {
	if msg, _ := entry["@message"].(string); msg != LogSyncMessage {
		return 0, false
	}
	seq, ok := entry["seq"].(float64)
	if !ok || seq < 1 {
		return 0, false
	}
	return uint64(seq), true
}

// MarshalFamilies encodes metric families as GatherResponse carries them.
func MarshalFamilies(families []*dto.MetricFamily) ([][]byte, error) {
	out := make([][]byte, 0, len(families))
	for _, mf := range families {
		b, err := proto.Marshal(mf)
		if err != nil {
			return nil, fmt.Errorf("encoding metric family %s: %w", mf.GetName(), err)
		}
		out = append(out, b)
	}
	return out, nil
}

// UnmarshalFamilies decodes the metric families of a GatherResponse.
func UnmarshalFamilies(raw [][]byte) ([]*dto.MetricFamily, error) {
	out := make([]*dto.MetricFamily, 0, len(raw))
	for _, b := range raw {
		mf := &dto.MetricFamily{}
		if err := proto.Unmarshal(b, mf); err != nil {
			return nil, fmt.Errorf("decoding a metric family: %w", err)
		}
		out = append(out, mf)
	}
	return out, nil
}
