package hello

import (
	"net"
	"strconv"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
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

// Validate checks the config. cfg.Decode calls it, and the Validate of
// any type in the config that has one; it names the line of each problem
// reported here, found by its key.
func (c Config) Validate() error {
	var check conf.Checker
	if host, port, err := net.SplitHostPort(c.Address); err != nil {
		check.Errorf("address", "%q is not host:port (write e.g. 127.0.0.1:8090)", c.Address)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		check.Errorf("address", "port %q is not a number from 0 to 65535", port)
	} else if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		check.Errorf("address", "listen on an IP address or localhost, not %q", host)
	}
	if c.Greeting == "" {
		check.Errorf("greeting", "empty: write what the server should say, e.g. Hello")
	}
	if c.Lifetime < sdk.Duration(10*time.Millisecond) {
		check.Errorf("lifetime", "%v is too short (write at least 10ms)", c.Lifetime.Std())
	}
	if c.RefreshBefore <= 0 || c.RefreshBefore >= c.Lifetime {
		check.Errorf("refresh_before", "%v must be more than 0 and less than lifetime (%v)", c.RefreshBefore.Std(), c.Lifetime.Std())
	}
	return check.Err()
}

// loadConfig decodes cfg over the defaults and checks it. Every problem is
// reported at once, each naming the file, line and key, so that
// `sia-agent validate` lists them all.
func loadConfig(cfg sdk.Config) (Config, error) {
	c := defaultConfig()
	// Decode is strict: an unknown key or a value of the wrong type is a
	// problem naming its line, with a suggestion for a misspelt key. Once
	// the block decodes, it calls Validate.
	err := cfg.Decode(&c)
	return c, err
}
