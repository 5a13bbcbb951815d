// Command sentrybot brings Sentry into Slack over Socket Mode: pasted issue
// links unfurl into cards, and nothing on the inside of the firewall has to be
// reachable from the internet.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sentrybot:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries the process exit code of a failure.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad command-line input or configuration: exit code 2.
func usageError(err error) error { return &exitError{code: 2, err: err} }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

const usage = `usage: sentrybot [command] [flags]

commands:
  run      [--config FILE]   connect to Slack and serve until SIGINT/SIGTERM (the default)
  demo                       run the bot offline against simulated Slack and Sentry and print a transcript
  doctor   [--config FILE]   check configuration, Slack, Sentry and the store; one line per check
  version                    print version, commit and Go version
  audit    [--config FILE] [--since 24h] [--issue ID] [--user UID] [--json]
                             print the audit log of attempted changes
`

// run is the whole program; tests call it the way main does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd, rest := "run", args[1:]
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		cmd, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "run":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "audit":
		return runAudit(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError(fmt.Errorf("unknown command %q", cmd))
	}
}
