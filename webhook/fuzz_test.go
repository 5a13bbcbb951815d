package webhook

import (
	"testing"
	"time"
)

// FuzzVerifyAndParse checks that arbitrary bodies and signatures never make
// Verify or Parse panic, that a signature made by Sign always verifies and
// that changing one byte of the body or of the signature breaks it.
// The committed seeds are under testdata/fuzz/FuzzVerifyAndParse.
func FuzzVerifyAndParse(f *testing.F) {
	f.Add("issue", mustRead(f, "issue-created.json"), "", uint16(0))
	f.Add("event_alert", mustRead(f, "event-alert-triggered.json"), "", uint16(7))
	f.Fuzz(func(t *testing.T, resource string, body []byte, sig string, pos uint16) {
		secret := []byte("fuzz-secret")
		if Verify(secret, body, sig) && sig != Sign(secret, body) && len(sig) == 64 {
			// Only the uppercase spelling of the right digest may verify.
			for i := 0; i < len(sig); i++ {
				if sig[i] >= 'a' && sig[i] <= 'f' {
					t.Fatalf("a signature that is not the digest verified: %q", sig)
				}
			}
		}
		good := Sign(secret, body)
		if !Verify(secret, body, good) {
			t.Fatal("Verify(secret, b, Sign(secret, b)) is false")
		}
		if len(body) > 0 {
			flipped := append([]byte(nil), body...)
			flipped[int(pos)%len(flipped)] ^= 0x01
			if Verify(secret, flipped, good) {
				t.Fatal("a body with one byte changed verified")
			}
		}
		i := int(pos) % len(good)
		badSig := good[:i] + otherHexDigit(good[i]) + good[i+1:]
		if Verify(secret, body, badSig) {
			t.Fatal("a signature with one digit changed verified")
		}

		a, ok, err := Parse(resource, body, time.Unix(0, 0))
		if err != nil && ok {
			t.Fatal("Parse returned an error and something to do")
		}
		if ok && a.IssueID == "" {
			t.Fatalf("Parse returned something to do without an issue id: %+v", a)
		}
		if ok && !isDigits(a.IssueID) {
			t.Fatalf("Parse returned a non-numeric issue id %q", a.IssueID)
		}
	})
}
