package agent

import (
	"io"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// agentLog is the agent's log, whose level and format a reload changes
// at once: every logger named from it (the plugins' relays among them)
// writes through one sink that set replaces.
type agentLog struct {
	hclog.InterceptLogger
	w    io.Writer
	sink atomic.Pointer[hclog.SinkAdapter]
}

// newLogger builds the agent's logger from the pipeline's settings.
func newLogger(w io.Writer, level, format string) *agentLog {
	l := &agentLog{w: w}
	// The intercept logger writes nothing itself, and formats nothing:
	// its sink does, with the settings of the moment.
	l.InterceptLogger = hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:    "sia-agent",
		Level:   hclog.LevelFromString(level),
		Output:  io.Discard,
		Exclude: func(hclog.Level, string, ...any) bool { return true },
	})
	l.set(level, format)
	l.RegisterSink(switchSink{l})
	return l
}

// set makes level and format the log's.
func (l *agentLog) set(level, format string) {
	lvl := hclog.LevelFromString(level)
	s := hclog.NewSinkAdapter(&hclog.LoggerOptions{
		Level:      lvl,
		JSONFormat: format == "json",
		Output:     l.w,
		Color:      hclog.ColorOff,
	})
	l.sink.Store(&s)
	l.SetLevel(lvl)
}

// switchSink writes through the agent log's sink of the moment.
type switchSink struct{ l *agentLog }

func (s switchSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	(*s.l.sink.Load()).Accept(name, level, msg, args...)
}
