package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"sentrybot/store"
)

// runBaseline is the floor sentrybot is compared with: the plainest slack-go
// Socket Mode app that does the same visible work for a link. It acks every
// envelope as soon as it reads it and answers a link_shared event with
// chat.unfurl of one fixed card per link, each event on its own goroutine.
// With LOADGEN_BASELINE_SENTRY=1 it first GETs the issue from Sentry, so its
// floor includes the same Sentry round trip as sentrybot's cold unfurl.
// Clicks and commands are acked and nothing more. With
// LOADGEN_BASELINE_RECORD set to a path, it records each envelope in a
// sentrybot store there before acking it and marks it done when its work
// is, the cost sentrybot's durable intake adds. It serves go_goroutines on
// LOADGEN_METRICS_LISTEN.
func runBaseline(ctx context.Context, getenv func(string) string) error {
	quiet := log.New(io.Discard, "", 0)
	api := slack.New(getenv("SLACK_BOT_TOKEN"),
		slack.OptionAppLevelToken(getenv("SLACK_APP_TOKEN")),
		slack.OptionAPIURL(getenv("SLACK_API_URL")),
		slack.OptionLog(quiet))
	smc := socketmode.New(api, socketmode.OptionLog(quiet))

	var fetch *issueFetcher
	if getenv(baselineSentryEnv) == "1" {
		fetch = &issueFetcher{base: getenv("SENTRY_URL"), org: getenv("SENTRY_ORG"), token: getenv("SENTRY_AUTH_TOKEN"),
			client: &http.Client{Timeout: 15 * time.Second}}
	}

	var rec *recorder
	if path := getenv(baselineRecordEnv); path != "" {
		db, err := store.Open(ctx, path)
		if err != nil {
			return fmt.Errorf("opening the baseline's store: %w", err)
		}
		defer db.Close()
		rec = &recorder{db: db}
	}

	ln, err := net.Listen("tcp", getenv(baselineMetricsEnv))
	if err != nil {
		return fmt.Errorf("listening for /metrics: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	card := fixedCard()
	var work sync.WaitGroup
	defer work.Wait()
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	work.Go(func() {
		for {
			select {
			case <-loopCtx.Done():
				return
			case evt := <-smc.Events:
				handleBaselineEvent(smc, rec, evt, func(ls *slackevents.LinkSharedEvent, done func()) {
					work.Go(func() {
						unfurlFixed(api, fetch, card, ls)
						done()
					})
				})
			}
		}
	})

	err = smc.RunContext(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("socket mode: %w", err)
}

func handleBaselineEvent(smc *socketmode.Client, rec *recorder, evt socketmode.Event, unfurl func(ls *slackevents.LinkSharedEvent, done func())) {
	switch evt.Type {
	case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
	default:
		return
	}
	done, ok := rec.admit(evt.Request)
	if !ok {
		return // not recorded, so not acked: Slack delivers it again
	}
	smc.Ack(*evt.Request)
	ev, _ := evt.Data.(slackevents.EventsAPIEvent)
	if ls, isLink := ev.InnerEvent.Data.(*slackevents.LinkSharedEvent); evt.Type == socketmode.EventTypeEventsAPI && isLink {
		unfurl(ls, done)
		return
	}
	done()
}

// recorder records envelopes the way sentrybot's intake does: one
// AdmitEnvelope before the ack, one FinishEnvelope after the work. A nil
// recorder records nothing.
type recorder struct{ db *store.DB }

func (r *recorder) admit(req *socketmode.Request) (done func(), ok bool) {
	if r == nil {
		return func() {}, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := "envelope:" + req.EnvelopeID
	if _, err := r.db.AdmitEnvelope(ctx, key, req.EnvelopeID, req.Type, req.Payload, 24*time.Hour); err != nil {
		return nil, false
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.db.FinishEnvelope(ctx, key)
	}, true
}

func unfurlFixed(api *slack.Client, fetch *issueFetcher, card slack.Attachment, ls *slackevents.LinkSharedEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	unfurls := make(map[string]slack.Attachment, len(ls.Links))
	for _, l := range ls.Links {
		if fetch != nil {
			if err := fetch.issue(ctx, l.URL); err != nil {
				continue
			}
		}
		unfurls[l.URL] = card
	}
	if len(unfurls) == 0 {
		return
	}
	_, _, _, _ = api.UnfurlMessageContext(ctx, ls.Channel, ls.MessageTimeStamp, unfurls)
}

// issueFetcher GETs an issue the way any Sentry client would, and reads the
// whole body.
type issueFetcher struct {
	base, org, token string
	client           *http.Client
}

var issuePath = regexp.MustCompile(`/issues/([^/?#]+)`)

func (f *issueFetcher) issue(ctx context.Context, link string) error {
	m := issuePath.FindStringSubmatch(link)
	if m == nil {
		return errors.New("not an issue link")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/api/0/organizations/"+f.org+"/issues/"+m[1]+"/", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sentry answered %s", resp.Status)
	}
	return nil
}

// fixedCard is about the size of sentrybot's issue card: a title, six
// fields, a context line and three buttons.
func fixedCard() slack.Attachment {
	md := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	pt := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}
	fields := []*slack.TextBlockObject{
		md("*Status*\nUnresolved"), md("*Assignee*\nnobody"), md("*Events*\n42"),
		md("*Users*\n7"), md("*First seen*\n3 days ago"), md("*Last seen*\n4 minutes ago"),
	}
	return slack.Attachment{Color: "#e03e2f", Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(md(":red_circle: *<https://acme.sentry.io/issues/1/|TypeError: cannot read 'total'>*\n`BACKEND-1` app.handlers in process_order"), nil, nil),
		slack.NewSectionBlock(nil, fields, nil),
		slack.NewContextBlock("", md("backend · python")),
		slack.NewActionBlock("issue_actions",
			slack.NewButtonBlockElement("resolve", "1", pt("Resolve")),
			slack.NewButtonBlockElement("archive", "1", pt("Archive")),
			slack.NewButtonBlockElement("assign", "1", pt("Assign"))),
	}}}
}
