package agent

import (
	"context"
	"sync"
	"time"

	"github.com/sia-agent/sia-agent/agent/hooks"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// hookGrace is how long a hook's command still running at shutdown may
// finish before it is killed: shutdown is bounded, and the workload it
// would reload is being stopped too.
const hookGrace = 500 * time.Millisecond

// runningHooks are the pipeline's hooks while the agent runs.
type runningHooks struct {
	*hooks.Runner
	stop sync.Once
}

// startHooks starts the pipeline's hooks and has every successful update
// of a credential reach them. In init mode there are none to run: the
// workload has not started.
func (a *Agent) startHooks() *runningHooks {
	list := a.pipeline.Hooks
	if a.opts.Mode == sdk.ModeInit {
		list = nil
	}
	r := hooks.New(list, a.log, a.store.SetHook)
	r.Start()
	a.store.OnRecord(func(provider string, rec *pluginpb.StatusRecord) {
		if change, ok := changeOf(provider, rec); ok {
			r.Changed(change)
		}
	})
	return &runningHooks{Runner: r}
}

// changeOf is the change a record tells of, if the credential was
// replaced: a success that did something.
func changeOf(provider string, rec *pluginpb.StatusRecord) (hooks.Change, bool) {
	if rec.GetUpdateOutcome() != sdk.OutcomeSuccess || rec.GetUpdateReason() == pluginpb.UpdateReason_UPDATE_REASON_IS_GOOD {
		return hooks.Change{}, false
	}
	return hooks.Change{Provider: provider, Credential: rec.GetCredential(), Files: rec.GetFiles()}, true
}

func stopHooks(h *runningHooks) {
	h.stop.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), hookGrace)
		defer cancel()
		h.Close(ctx)
	})
}
