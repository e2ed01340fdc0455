package agent

import (
	"fmt"
	"io"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// openLogFile opens the file agent.log_file names, rotated by size; nil for
// none. It is opened at once, so that a file that cannot be written is a
// configuration error before anything runs, rather than lines lost.
func openLogFile(p *pipeline.Pipeline) (*lumberjack.Logger, error) {
	f := p.Agent.LogFile
	if f.Path == "" {
		return nil, nil
	}
	l := &lumberjack.Logger{Filename: f.Path, MaxSize: f.MaxSizeMB, MaxBackups: f.MaxBackups}
	if _, err := l.Write(nil); err != nil {
		return nil, conf.Problems{{File: p.File, Path: conf.P("agent", "log_file", "path"),
			Message: fmt.Sprintf("cannot write the log to %s: %v", f.Path, err)}}
	}
	return l, nil
}

// logOutput is where the log goes: stderr, and the log file if there is
// one. The file's write errors never hold back stderr's lines.
func logOutput(stderr io.Writer, file *lumberjack.Logger) io.Writer {
	if file == nil {
		return stderr
	}
	return io.MultiWriter(stderr, file)
}
