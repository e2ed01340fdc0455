package sdk

import "github.com/hashicorp/go-plugin"

// The protocol between the agent and its plugins. Plugins built against
// another ProtocolVersion are refused at launch with a clear error.
const (
	// ProtocolVersion is the version of the plugin protocol (pluginpb).
	ProtocolVersion = 1
	// PluginName is the name the provider service is dispensed under.
	PluginName = "provider"
	// MagicCookieKey and MagicCookieValue tell a plugin binary that the
	// agent launched it; run by hand, it explains that it is a plugin.
	MagicCookieKey   = "SIA_AGENT_PLUGIN"
	MagicCookieValue = "b2f1c6a4-athenz-sia-provider"
	// EnvLogLevel carries the agent's log level to its plugins.
	EnvLogLevel = "SIA_LOG_LEVEL"
)

// Handshake is the go-plugin handshake shared by the agent and plugins.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}
