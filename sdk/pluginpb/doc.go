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
//   - the environment the agent sets for its plugins (EnvLogLevel);
//   - the markers in a plugin's log that keep it in order with the
//     agent's (LogSyncLine); and
//   - what a plugin's output carries (see Output below).
//
// # Versions
//
// ProtocolVersion names the whole contract above. Within one version,
// changes stay compatible both ways: new fields and calls that an older
// peer may ignore. Anything else (a call or field removed or changed in
// meaning, another channel, another handshake) takes a new version, and
// go-plugin then refuses a plugin built for another one at launch, with
// an error naming both versions.
//
// # Output
//
// What a plugin writes reaches the agent on these streams:
//
//   - Its standard error, the pipe it was started with, is its log: one
//     hclog JSON object per line, from the SDK's logger, from the standard
//     library's log package (at StdlibLogLevel, unless a line starts with
//     a level of its own, "[DEBUG] ..."), and the LogSync markers. A line
//     there that is not JSON was written outside any logger: a panic, a
//     fatal runtime error, a print before Serve. The agent relays it at
//     error level.
//   - What it writes to os.Stdout and os.Stderr once it serves: go-plugin
//     replaces both with pipes of its own and streams what they carry over
//     its stdio service, which a host receives through
//     plugin.ClientConfig's SyncStdout and SyncStderr (and go-plugin
//     discards without them). It is text a provider printed, fmt.Println
//     say, in chunks that need not end at a line. The agent relays it
//     line by line, at StdoutLevel and StderrLevel, and an hclog JSON line
//     in it as the log line it is.
//
// Before Serve, a plugin's standard output carries go-plugin's handshake
// and nothing else.
package pluginpb
