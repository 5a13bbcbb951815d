package blocks

import (
	"net/url"

	"github.com/slack-go/slack"
)

// ActionLoginLink is the "Link with your Sentry login" button. It opens a
// page in the browser; the click Slack also reports needs no answer.
const ActionLoginLink = "sentry.link.login"

// BlockLoginLink is the id of the actions block that holds the button.
const BlockLoginLink = "login_link"

// maxButtonURL is Slack's limit on a button's url.
const maxButtonURL = 3000

// LinkOffer is a notice followed by a button that opens startURL, where the
// user signs in to Sentry so that sentrybot can act as them. A startURL
// that is not an absolute http(s) URL within Slack's limit gives the notice
// alone: a button Slack would reject must not take the text down with it.
func LinkOffer(text, startURL string) []slack.Block {
	bs := Notice(text)
	u, err := url.Parse(startURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(startURL) > maxButtonURL {
		return bs
	}
	btn := slack.NewButtonBlockElement(ActionLoginLink, "",
		slack.NewTextBlockObject(slack.PlainTextType, "Link with your Sentry login", false, false))
	btn.URL = startURL
	btn.Style = slack.StylePrimary
	return append(bs, slack.NewActionBlock(BlockLoginLink, btn))
}
