package pluginpb

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
)

// handshake runs a TLS handshake over loopback and returns the client's
// and the server's errors. (net.Pipe does not buffer, and both ends of a
// TLS 1.3 handshake write at once.)
func handshake(client, server *tls.Config) (error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err, err
	}
	defer ln.Close()
	errs := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			errs <- err
			return
		}
		defer conn.Close()
		s := tls.Server(conn, server)
		err = s.Handshake()
		if err == nil {
			_, err = s.Write([]byte("k"))
		}
		errs <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err, <-errs
	}
	c := tls.Client(conn, client)
	cerr := c.Handshake()
	if cerr == nil {
		// In TLS 1.3 the server verifies the client's certificate after
		// the client's handshake is done: its first byte says it agreed.
		_, cerr = c.Read(make([]byte, 1))
	}
	conn.Close()
	return cerr, <-errs
}

func pluginEnd(t *testing.T, c *Channel) *tls.Config {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WritePlugin(&buf); err != nil {
		t.Fatal(err)
	}
	cfg, err := ReadPluginConfig(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestChannelAuthenticatesBothEndsEitherWay(t *testing.T) {
	c, err := NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	host, plugin := c.HostConfig(), pluginEnd(t, c)
	if cerr, serr := handshake(host, plugin); cerr != nil || serr != nil {
		t.Errorf("agent dialling the plugin: %v, %v", cerr, serr)
	}
	// The Host service: the plugin dials the agent.
	if cerr, serr := handshake(plugin, host); cerr != nil || serr != nil {
		t.Errorf("plugin dialling the agent: %v, %v", cerr, serr)
	}
}

func TestChannelRefusesAnotherLaunchsKeys(t *testing.T) {
	c, err := NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	if cerr, _ := handshake(c.HostConfig(), pluginEnd(t, other)); cerr == nil {
		t.Error("the agent accepted a plugin that holds another launch's keys")
	}
	if _, serr := handshake(pluginEnd(t, other), c.HostConfig()); serr == nil {
		t.Error("the agent's server accepted a client that holds another launch's keys")
	}
}

func TestReadPluginConfigRefusesGarbage(t *testing.T) {
	if _, err := ReadPluginConfig(bytes.NewReader([]byte("not pem"))); err == nil {
		t.Error("garbage accepted as channel keys")
	}
}
