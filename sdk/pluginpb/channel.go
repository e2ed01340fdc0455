package pluginpb

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"time"
)

// The gRPC channel between the agent and a plugin is TLS 1.3, mutually
// authenticated with keys made for that launch alone: the agent makes an
// Ed25519 key and certificate for itself and one for the plugin, and hands
// the plugin its own and the agent's certificate through a pipe that only
// the plugin process inherits (file descriptor ChannelFD, named by
// EnvChannelFD). Each end trusts exactly the other's certificate, so
// neither another local process nor a process of the same user that did
// not inherit the pipe can speak on the channel or listen in. It replaces
// go-plugin's AutoMTLS, which makes P-521 keys on both sides and costs most
// of a plugin's start.
const (
	// EnvChannelFD names the file descriptor a plugin reads its channel
	// keys from.
	EnvChannelFD = "SIA_PLUGIN_CHANNEL_FD"
	// ChannelFD is that descriptor: the first one after the standard
	// three (exec.Cmd's ExtraFiles[0]).
	ChannelFD = 3
	// channelName is the name both certificates are for.
	channelName = "sia-agent-plugin"
)

// Channel holds the keys of one plugin launch.
type Channel struct {
	host, plugin tls.Certificate
	hostDER      []byte
	pluginDER    []byte
}

// NewChannel makes the keys of one launch.
func NewChannel() (*Channel, error) {
	host, hostDER, err := ephemeral()
	if err != nil {
		return nil, err
	}
	plugin, pluginDER, err := ephemeral()
	if err != nil {
		return nil, err
	}
	return &Channel{host: host, plugin: plugin, hostDER: hostDER, pluginDER: pluginDER}, nil
}

// HostConfig is the agent's end: it presents its certificate and trusts
// the plugin's alone, as a client and, for the Host service the plugin
// dials through the broker, as a server.
func (c *Channel) HostConfig() *tls.Config { return config(c.host, c.pluginDER) }

// WritePlugin writes the plugin's key and certificate and the agent's
// certificate, for the plugin to read with ReadPluginConfig.
func (c *Channel) WritePlugin(w io.Writer) error {
	key, err := x509.MarshalPKCS8PrivateKey(c.plugin.PrivateKey)
	if err != nil {
		return fmt.Errorf("encoding the plugin's channel key: %w", err)
	}
	for _, b := range []*pem.Block{
		{Type: "PRIVATE KEY", Bytes: key},
		{Type: "CERTIFICATE", Bytes: c.pluginDER},
		{Type: "CERTIFICATE", Bytes: c.hostDER},
	} {
		if err := pem.Encode(w, b); err != nil {
			return fmt.Errorf("handing the plugin its channel keys: %w", err)
		}
	}
	return nil
}

// ReadPluginConfig reads what WritePlugin wrote and returns the plugin's
// end of the channel.
func ReadPluginConfig(r io.Reader) (*tls.Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, 16<<10))
	if err != nil {
		return nil, fmt.Errorf("reading the channel keys: %w", err)
	}
	var blocks []*pem.Block
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) != 3 || blocks[0].Type != "PRIVATE KEY" || blocks[1].Type != "CERTIFICATE" || blocks[2].Type != "CERTIFICATE" {
		return nil, errors.New("reading the channel keys: want a private key and two certificates")
	}
	key, err := x509.ParsePKCS8PrivateKey(blocks[0].Bytes)
	if err != nil {
		return nil, fmt.Errorf("reading the channel key: %w", err)
	}
	own := tls.Certificate{Certificate: [][]byte{blocks[1].Bytes}, PrivateKey: key}
	return config(own, blocks[2].Bytes), nil
}

// ChannelTLS returns, for go-plugin's ServeConfig.TLSProvider, the
// plugin's end of the channel the agent made for this launch, read from
// the descriptor the agent names; nil, leaving go-plugin to its defaults,
// when the plugin was not launched by the agent.
func ChannelTLS() func() (*tls.Config, error) {
	fd, err := strconv.Atoi(os.Getenv(EnvChannelFD))
	if err != nil || fd < ChannelFD {
		return nil
	}
	return func() (*tls.Config, error) {
		f := os.NewFile(uintptr(fd), "channel keys")
		defer f.Close() //nolint:errcheck // read once; a failed close loses nothing
		return ReadPluginConfig(f)
	}
}

// config presents own and trusts peer alone, in either role.
func config(own tls.Certificate, peerDER []byte) *tls.Config {
	peer, err := x509.ParseCertificate(peerDER)
	pool := x509.NewCertPool()
	if err == nil {
		pool.AddCert(peer)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{own},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ServerName:   channelName,
		MinVersion:   tls.VersionTLS13,
	}
}

// ephemeral makes a self-signed Ed25519 certificate for channelName, good
// for a day: longer than any launch needs, short enough not to matter.
func ephemeral() (tls.Certificate, []byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("making a channel key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("making a channel key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: channelName},
		DNSNames:              []string{channelName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("making a channel certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, der, nil
}
