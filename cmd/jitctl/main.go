// Command jitctl is jitaccess from a terminal: list eligible roles,
// activate them, ask for and give approvals, end access, see my access and
// the history. It calls the same HTTP API as the web UI, with the same
// rules, through Identity-Aware Proxy with an OpenID Connect ID token (IAP's
// programmatic authentication). See docs/operations.md#jitctl.
//
// Built with github.com/spf13/cobra, the CLI library of kubectl, gcloud's
// Go tools and most Go command-line programs: subcommands, flags with
// environment defaults, help and completion, kept well and widely known.
//
// Exit codes:
//
//	0  success
//	1  an unexpected error
//	2  bad usage: an unknown command or flag, a missing argument
//	3  no credentials, or IAP refused them (401)
//	4  the app denied the request (403): not eligible, not a reviewer
//	5  the app refused the input (400, 404, 409 and other 4xx)
//	6  the app or Google failed (5xx), or the URL cannot be reached
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"cloud.google.com/go/compute/metadata"
	"github.com/spf13/cobra"
)

// Exit codes, documented above and in docs/operations.md.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitAuth        = 3
	exitDenied      = 4
	exitInvalid     = 5
	exitUnavailable = 6
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, metadata.OnGCE)
	stop()
	os.Exit(code)
}

// settings are the global flags, defaulted from the environment.
type settings struct {
	url, audience, token, credentials string
	json                              bool
	timeout                           time.Duration
	onGCE                             func() bool
}

// usageError is bad usage: exit code exitUsage.
type usageError struct{ error }

// run is main without the process; it returns the exit code. onGCE says
// whether a metadata server can hand out ID tokens.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer, onGCE func() bool) int {
	s := settings{onGCE: onGCE}
	root := &cobra.Command{
		Use:   "jitctl",
		Short: "Just-in-time access to Google Cloud from a terminal",
		Long: `jitctl activates eligible IAM roles through jitaccess, with the same rules as its web UI.

It authenticates to Identity-Aware Proxy with an ID token for IAP's OAuth
client ID (--audience): from --token, a credentials file (your own after
'gcloud auth application-default login', or a service account's), or the
metadata server on Google Cloud.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetContext(ctx)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := root.PersistentFlags()
	// Environment defaults are applied after parsing, not as flag
	// defaults, so that --help never prints a token.
	f.StringVar(&s.url, "url", "", "the app's URL, e.g. https://jit.example.com (env JITCTL_URL)")
	f.StringVar(&s.audience, "audience", "", "IAP's OAuth client ID, the audience of the ID token (env JITCTL_AUDIENCE)")
	f.StringVar(&s.token, "token", "", "an ID token to send as is (env JITCTL_TOKEN)")
	f.StringVar(&s.credentials, "credentials", "", "a credentials file: authorized_user or a service account (env JITCTL_CREDENTIALS; default GOOGLE_APPLICATION_CREDENTIALS, then gcloud's)")
	f.BoolVar(&s.json, "json", false, "print the API's JSON answer")
	f.DurationVar(&s.timeout, "timeout", time.Minute, "give up after this long")

	connect := func(cmd *cobra.Command) (*client, context.Context, context.CancelFunc, error) {
		for _, v := range []struct {
			flag *string
			env  string
		}{{&s.url, "JITCTL_URL"}, {&s.audience, "JITCTL_AUDIENCE"}, {&s.token, "JITCTL_TOKEN"}, {&s.credentials, "JITCTL_CREDENTIALS"}} {
			if *v.flag == "" {
				*v.flag = env(v.env)
			}
		}
		base, err := parseAppURL(s.url)
		if err != nil {
			return nil, nil, nil, usageError{err}
		}
		httpClient := &http.Client{
			Timeout: s.timeout,
			// IAP answers an unauthenticated request with a redirect to
			// Google's sign-in page: an error here, not a page to fetch.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		ts, err := newTokenSource(s, env, httpClient)
		if err != nil {
			return nil, nil, nil, err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), s.timeout)
		return &client{base: base, http: httpClient, token: ts}, ctx, cancel, nil
	}
	addCommands(root, &s, connect)

	err := root.Execute()
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	_, _ = fmt.Fprintf(stderr, "jitctl: %v\n", err)
	if code == exitUsage {
		_, _ = fmt.Fprintln(stderr, "Run 'jitctl --help' for usage.")
	}
	return code
}

func exitCode(err error) int {
	var (
		usage usageError
		auth  *authError
		api   *apiError
		down  *unreachableError
	)
	switch {
	case errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &auth):
		return exitAuth
	case errors.As(err, &down):
		return exitUnavailable
	case errors.As(err, &api):
		switch {
		case api.Status == http.StatusUnauthorized:
			return exitAuth
		case api.Status == http.StatusForbidden:
			return exitDenied
		case api.Status >= 500:
			return exitUnavailable
		case api.Status >= 400:
			return exitInvalid
		}
	case errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable
	}
	if isCobraUsage(err) {
		return exitUsage
	}
	return exitError
}
