package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sia-agent/sia-agent/sdk"
)

// prefetch makes one attempt at every target, so that the server has
// tokens from its first request when ZTS is up, and is not held back when
// it is down: the refresh loop retries what failed.
func (c *cache) prefetch(ctx context.Context, keys []Key) {
	var g errgroup.Group
	g.SetLimit(c.cfg.Refresh.Concurrency)
	for _, k := range keys {
		g.Go(func() error {
			c.fetch(ctx, k)
			return nil
		})
	}
	_ = g.Wait()
}

// fetchAll fetches every target with retries and writes its file, failing
// if any could not be had: init mode, where nothing runs afterwards to
// make up for a miss.
func (c *cache) fetchAll(ctx context.Context, keys []Key) error {
	var (
		g    errgroup.Group
		mu   sync.Mutex
		errs []error
	)
	g.SetLimit(c.cfg.Refresh.Concurrency)
	for _, k := range keys {
		g.Go(func() error {
			err := sdk.Retry(ctx, c.cfg.Refresh.Retry.policy(), func(ctx context.Context) error {
				r := c.fetch(ctx, k)
				return errors.Join(r.err, r.fileErr)
			}, func(err error, wait time.Duration) {
				c.log.Info("Retrying token fetch", "credential", k.credential(), "retry_in", wait.Round(time.Millisecond).String())
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", k.credential(), err))
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}
