package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/sia-agent/sia-agent/sdk"
)

// validateCommand loads the pipeline and has every enabled plugin validate
// its configuration; it starts nothing.
func validateCommand(args []string, stdout, stderr io.Writer) int {
	f, ok := parseFlags("validate", args, stderr, false)
	if !ok {
		return ExitUsage
	}
	p, err := loadPipeline(f)
	var l *loaded
	if err == nil {
		l, err = launch(f, p, sdk.ModeRefresh, newLogger(stderr, p).Named("validate"), nil)
	}
	if err != nil {
		var le *loadError
		errors.As(err, &le)
		fmt.Fprintf(stderr, "%s is not valid:\n%v\n", f.config, err)
		return le.code
	}
	defer l.kill()
	fmt.Fprintf(stdout, "%s is valid", f.config)
	if l.pipeline.Profile != "" {
		fmt.Fprintf(stdout, " with profile %s", l.pipeline.Profile)
	}
	fmt.Fprintf(stdout, ": %d of %d providers enabled\n", len(l.plugins), len(l.pipeline.Providers))
	for _, p := range l.pipeline.Providers {
		state := "disabled"
		if p.Enabled {
			state = "enabled  " + p.Path
		}
		fmt.Fprintf(stdout, "  %-16s %s\n", p.Name, state)
	}
	return ExitOK
}
