package blocks

import (
	"github.com/slack-go/slack"

	"sentrybot/sentry"
)

// IssueAttachment wraps an issue card in the attachment that unfurls and the
// bot's own messages carry: the side bar takes the level's colour, and the
// fallback text is what notifications show.
func IssueAttachment(is sentry.Issue, opts CardOptions) slack.Attachment {
	return slack.Attachment{
		Color:    LevelColor(is.Level),
		Fallback: truncatePlain(is.ShortID+": "+is.Title, maxSectionText),
		Blocks:   slack.Blocks{BlockSet: IssueCard(is, opts)},
	}
}
