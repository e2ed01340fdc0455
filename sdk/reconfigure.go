package sdk

import (
	"context"
	"errors"
	"strings"
)

// Reconfigurer is implemented by a provider that can apply a changed
// configuration while it runs, so that a reload of the agent's pipeline
// does not restart it. It is optional: a provider without it is shut down
// and started again with the new configuration.
type Reconfigurer interface {
	// Reconfigure applies cfg, which Validate (in another process of the
	// same plugin) has already accepted, to the running provider. It is
	// called only between Start and Shutdown, never concurrently with
	// another lifecycle call.
	//
	// A provider that cannot apply a change in place returns a
	// *RestartRequiredError (see RestartRequired) and keeps running as it
	// was; the agent then restarts it. Any other error means the same to
	// the agent, but is logged as a failure: either way the provider must
	// be left as it was.
	Reconfigure(ctx context.Context, cfg Config) error
}

// RestartRequiredError says that a configuration change cannot be applied
// to a running provider: it must be restarted. Fields names what changed
// that only a restart applies, as the configuration's keys.
type RestartRequiredError struct {
	Fields []string
}

// RestartRequired returns a *RestartRequiredError for the named keys.
func RestartRequired(fields ...string) error { return &RestartRequiredError{Fields: fields} }

func (e *RestartRequiredError) Error() string {
	if len(e.Fields) == 0 {
		return "the change needs a restart"
	}
	return "a change of " + strings.Join(e.Fields, ", ") + " needs a restart"
}

// IsRestartRequired reports whether err is, or wraps, a
// *RestartRequiredError.
func IsRestartRequired(err error) bool {
	var r *RestartRequiredError
	return errors.As(err, &r)
}
