// Package pluginpb is the protocol between sia-agent and its provider
// plugins: everything both sides must agree on, in one package that both
// import. Provider authors use package sdk, which speaks it for them.
//
// The protocol is
//
//   - the go-plugin handshake (Handshake): ProtocolVersion, the magic
//     cookie (MagicCookieKey, MagicCookieValue) and the name the provider
//     service is dispensed under (PluginName);
//   - the gRPC services Provider (served by the plugin) and Host (served by
//     the agent through go-plugin's broker), and their messages, generated
//     from plugin.proto;
//   - the conversions of what those messages carry: YAML nodes with their
//     positions (FromYAML, Node.YAML), configuration problems with typed
//     paths (FromProblem, Problem.Conf) and metric families
//     (MarshalFamilies, UnmarshalFamilies);
//   - the channel's keys, made by the agent for each launch and handed to
//     the plugin on a descriptor of its own (Channel, EnvChannelFD);
//   - the environment the agent sets for its plugins (EnvLogLevel); and
//   - the markers in a plugin's log that keep it in order with the
//     agent's (LogSyncLine).
//
// # Versions
//
// ProtocolVersion names the whole contract above. Within one version,
// changes stay compatible both ways: new fields and calls that an older
// peer may ignore. Anything else (a call or field removed or changed in
// meaning, another channel, another handshake) takes a new version, and
// go-plugin then refuses a plugin built for another one at launch, with
// an error naming both versions.
package pluginpb
