package hello

import (
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// Config is the provider's `config:` block in the pipeline file.
type Config struct {
	// Address is where the greeting server listens, host:port; port 0
	// picks a free one.
	Address string `yaml:"address"`
	// Greeting is what the server says.
	Greeting string `yaml:"greeting"`
	// Lifetime is how long each pretend credential is valid.
	Lifetime sdk.Duration `yaml:"lifetime"`
	// RefreshBefore is how long before its expiry a credential is
	// refreshed.
	RefreshBefore sdk.Duration `yaml:"refresh_before"`
}

// defaultConfig is what an empty `config:` block means.
func defaultConfig() Config {
	return Config{
		Address:       "127.0.0.1:8090",
		Greeting:      "Hello",
		Lifetime:      sdk.Duration(time.Hour),
		RefreshBefore: sdk.Duration(20 * time.Minute),
	}
}

// loadConfig decodes cfg over the defaults and checks it. Every problem is
// reported at once, each naming the file, line and key, so that
// `sia-agent validate` lists them all.
func loadConfig(cfg sdk.Config) (Config, error) {
	c := defaultConfig()
	// Decode is strict: an unknown key or a value of the wrong type is a
	// problem naming its line, with a suggestion for a misspelt key.
	if err := cfg.Decode(&c); err != nil {
		return c, err
	}
	var problems sdk.Problems
	bad := func(key, format string, args ...any) {
		var p *sdk.Problem
		if errors.As(cfg.Errorf(key, format, args...), &p) {
			problems = append(problems, p)
		}
	}
	if host, port, err := net.SplitHostPort(c.Address); err != nil {
		bad("address", "%q is not host:port (write e.g. 127.0.0.1:8090)", c.Address)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("address", "port %q is not a number from 0 to 65535", port)
	} else if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		bad("address", "listen on an IP address or localhost, not %q", host)
	}
	if c.Greeting == "" {
		bad("greeting", "empty: write what the server should say, e.g. Hello")
	}
	if c.Lifetime < sdk.Duration(10*time.Millisecond) {
		bad("lifetime", "%v is too short (write at least 10ms)", c.Lifetime.Std())
	}
	if c.RefreshBefore <= 0 || c.RefreshBefore >= c.Lifetime {
		bad("refresh_before", "%v must be more than 0 and less than lifetime (%v)", c.RefreshBefore.Std(), c.Lifetime.Std())
	}
	return c, problems.Err()
}
