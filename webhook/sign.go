// Package webhook receives Sentry integration-platform webhooks: it checks
// the signature, drops replays, turns the payload into an alerts.Alert and
// hands it to a Receiver that keeps it durably. The answer goes back within
// Sentry's 1 s budget; the Slack and Sentry work happens later, elsewhere.
//
// Facts about the wire format come from Sentry's integration-platform
// webhook documentation (docs/organization/integrations/integration-platform/webhooks).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Sign returns the lowercase hex HMAC-SHA256 of body keyed with secret, the
// form Sentry sends in Sentry-Hook-Signature.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is the HMAC-SHA256 of body keyed with
// secret. It compares in constant time and refuses anything that is not
// exactly 32 hex-encoded bytes, and refuses every signature when secret is
// empty (an empty key would make signatures anyone can compute).
func Verify(secret, body []byte, signature string) bool {
	if len(secret) == 0 || len(signature) != hex.EncodedLen(sha256.Size) {
		return false
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
