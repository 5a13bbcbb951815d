package blocks

import (
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

func TestLinkOfferGolden(t *testing.T) {
	bs := LinkOffer("Linked by email. To act in Sentry *as yourself*, link your Sentry login too.",
		"https://sentrybot.internal.example/oauth/start?grant=Zm9vYmFy")
	golden(t, "link-offer.golden.json", encode(t, bs))
}

func TestLinkOfferButtonOpensStartURL(t *testing.T) {
	const start = "http://10.0.0.5:8080/oauth/start?grant=abc"
	bs := LinkOffer("text", start)
	if len(bs) != 2 {
		t.Fatalf("%d blocks, want notice and actions", len(bs))
	}
	ab, ok := bs[1].(*slack.ActionBlock)
	if !ok || ab.BlockID != BlockLoginLink || len(ab.Elements.ElementSet) != 1 {
		t.Fatalf("second block %#v, want the login actions block", bs[1])
	}
	btn := ab.Elements.ElementSet[0].(*slack.ButtonBlockElement)
	if btn.URL != start || btn.ActionID != ActionLoginLink {
		t.Errorf("button url %q action %q", btn.URL, btn.ActionID)
	}
}

func TestLinkOfferWithoutUsableURLIsNoticeAlone(t *testing.T) {
	for _, u := range []string{"", "javascript:alert(1)", "/oauth/start", "https://x/" + strings.Repeat("a", maxButtonURL)} {
		if bs := LinkOffer("text", u); len(bs) != 1 || bs[0].ID() != BlockNotice {
			t.Errorf("LinkOffer(%.30q) gave %d blocks, want the notice alone", u, len(bs))
		}
	}
}
