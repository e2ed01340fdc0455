package ztsdev

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/AthenZ/athenz/libs/go/zmssvctoken"
)

// roleToken holds the fields of an Athenz role token (RoleToken.java).
type roleToken struct {
	domain    string
	roles     []string // short names
	complete  bool     // c=1: the caller asked for no role, so this is the full set
	principal string
	host      string
	proxy     string
	issued    int64 // t=, Unix seconds
	expiry    int64 // e=, Unix seconds
	keyID     string
	ip        string
}

// sign returns the token string
//
//	v=Z1;d=<d>;r=<r1,r2>[;c=1][;p=<p>][;h=<h>][;proxy=<u>];a=<salt>;t=<t>;e=<e>;k=<k>[;i=<ip>];s=<sig>
//
// with the fields in exactly this order, and s= the YBase64 of the
// SHA256withECDSA (ASN.1 DER) signature over everything before ";s=".
func (t *roleToken) sign(key *ecdsa.PrivateKey) (string, error) {
	salt, err := randomSalt()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(256)
	b.WriteString("v=Z1;d=")
	b.WriteString(t.domain)
	b.WriteString(";r=")
	b.WriteString(strings.Join(t.roles, ","))
	if t.complete {
		b.WriteString(";c=1")
	}
	if t.principal != "" {
		b.WriteString(";p=")
		b.WriteString(t.principal)
	}
	if t.host != "" {
		b.WriteString(";h=")
		b.WriteString(t.host)
	}
	if t.proxy != "" {
		b.WriteString(";proxy=")
		b.WriteString(t.proxy)
	}
	b.WriteString(";a=")
	b.WriteString(salt)
	b.WriteString(";t=")
	b.WriteString(strconv.FormatInt(t.issued, 10))
	b.WriteString(";e=")
	b.WriteString(strconv.FormatInt(t.expiry, 10))
	b.WriteString(";k=")
	b.WriteString(t.keyID)
	if t.ip != "" {
		b.WriteString(";i=")
		b.WriteString(t.ip)
	}
	unsigned := b.String()

	digest := sha256.Sum256([]byte(unsigned))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing role token: %w", err)
	}
	return unsigned + ";s=" + new(zmssvctoken.YBase64).EncodeToString(sig), nil
}

// randomSalt is Long.toHexString(random long): 1-16 lower-case hex digits.
func randomSalt() (string, error) {
	var buf [8]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("generating salt: %w", err)
	}
	return strconv.FormatUint(binary.BigEndian.Uint64(buf[:]), 16), nil
}
