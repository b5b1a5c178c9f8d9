package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

type connectFunc func(*cobra.Command) (*client, context.Context, context.CancelFunc, error)

// isCobraUsage recognises cobra's own usage errors, which have no type.
func isCobraUsage(err error) bool {
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "required flag", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument"} {
		if strings.HasPrefix(err.Error(), p) {
			return true
		}
	}
	return false
}

// exactArgs is cobra.ExactArgs with a usage error that says what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("expected %s", what)}
		}
		return nil
	}
}

// Answers of the API, as far as jitctl reads them; --json prints them whole.
type (
	user        struct{ Email string }
	entitlement struct {
		ID, Name, ActivationType, Status string
		ResourceCondition                *string
		ValidUntil                       *int64
	}
	activationEntitlement struct {
		ActivationID, ProjectID, ID, Name, Status string
		StartTime, EndTime                        int64
	}
	activationResponse struct {
		Beneficiary   user
		Reviewers     []user
		Justification string
		Entitlements  []activationEntitlement
		// The state of an approval request; absent for self-activations.
		Status            string
		Approvals         []struct{ By, At string }
		ApprovalsRequired int
	}
	activation struct {
		ID, Resource, Role, ResourceCondition, Beneficiary, Start, End, Status, ApprovedBy, Justification string
	}
	approvalRequest struct {
		Token, Beneficiary, Resource, Role, Status, ExpiresAt string
		Approvals                                             []struct{ By, At string }
		ApprovalsRequired                                     int
	}
	historyEntry struct {
		Time, Event, Title, User, Resource, Role, Justification, ApprovedBy, Reason string
		Failed                                                                      bool
	}
)

func addCommands(root *cobra.Command, s *settings, connect connectFunc) {
	var sf scopeFlags
	// scopeFlag adds --project, --folder and --organization, of which a
	// command takes one: where the role is.
	scopeFlag := func(c *cobra.Command) {
		c.Flags().StringVarP(&sf.project, "project", "p", "", "the project ID")
		c.Flags().StringVar(&sf.folder, "folder", "", "a folder's number (folders/F also works), instead of a project")
		c.Flags().StringVar(&sf.organization, "organization", "", "the organization's number (organizations/O also works), instead of a project")
	}
	// show writes the raw JSON with --json, else calls human.
	show := func(c *cobra.Command, raw []byte, human func(w *tabwriter.Writer)) error {
		if s.json {
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("decode the answer: %w", err)
			}
			enc := json.NewEncoder(c.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		human(w)
		return w.Flush()
	}

	projects := &cobra.Command{
		Use: "projects", Short: "List the projects where I have eligible roles", Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			var out struct{ Projects []string }
			raw, err := cl.call(ctx, http.MethodGet, "/api/projects", nil, nil, &out)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				for _, p := range out.Projects {
					_, _ = fmt.Fprintln(w, p)
				}
			})
		},
	}

	// folders and organizations list the other levels where roles can be
	// activated (ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS).
	var levels []*cobra.Command
	for _, level := range []struct{ use, short string }{
		{"folders", "List the folders where I have eligible roles (when the app activates on folders)"},
		{"organizations", "List the organization, if I have eligible roles on it (when the app activates on it)"},
	} {
		levels = append(levels, &cobra.Command{
			Use: level.use, Short: level.short, Args: exactArgs(0, "no arguments"),
			RunE: func(c *cobra.Command, _ []string) error {
				cl, ctx, cancel, err := connect(c)
				if err != nil {
					return err
				}
				defer cancel()
				var out map[string][]string
				raw, err := cl.call(ctx, http.MethodGet, "/api/"+level.use, nil, nil, &out)
				if err != nil {
					return err
				}
				return show(c, raw, func(w *tabwriter.Writer) {
					for _, r := range out[level.use] {
						_, _ = fmt.Fprintln(w, r)
					}
				})
			},
		})
	}

	roles := &cobra.Command{
		Use: "roles", Short: "List my eligible roles on a project, folder or the organization", Args: exactArgs(0, "no arguments; the project goes in --project"),
		Example: "  jitctl roles --project prod-db\n  jitctl roles --folder 1001",
		RunE: func(c *cobra.Command, _ []string) error {
			resource, err := sf.resource(true)
			if err != nil {
				return err
			}
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			ents, raw, err := listRoles(ctx, cl, resource)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				_, _ = fmt.Fprintln(w, "ROLE\tTYPE\tSTATUS\tUNTIL")
				for _, e := range ents {
					until := ""
					if e.ValidUntil != nil {
						until = unixTime(*e.ValidUntil)
					}
					name := e.Name
					if e.ResourceCondition != nil {
						name += " (conditional)"
					}
					_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, e.ActivationType, e.Status, until)
				}
			})
		},
	}
	scopeFlag(roles)

	var (
		roleNames     []string
		peers         []string
		justification string
		duration      time.Duration
		start         string
	)
	activate := &cobra.Command{
		Use: "activate", Short: "Activate roles that need no approval (self-approval)", Args: exactArgs(0, "no arguments; roles go in --role"),
		Example: "  jitctl activate -p prod-db --role roles/cloudsql.client -j 'INC-42 failover' --duration 30m",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := checkTiming(duration, start); err != nil {
				return err
			}
			resource, err := sf.resource(true)
			if err != nil {
				return err
			}
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			ids, err := resolveRoles(ctx, cl, resource, roleNames, "JIT")
			if err != nil {
				return err
			}
			body := map[string]any{"entitlementIds": ids, "justification": justification}
			if err := addTiming(ctx, cl, body, duration, start); err != nil {
				return err
			}
			var out activationResponse
			raw, err := cl.call(ctx, http.MethodPost, apiPath(resource)+"/roles/self-activate", nil, body, &out)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				for _, e := range out.Entitlements {
					_, _ = fmt.Fprintf(w, "Activated %s on %s: %s, %s to %s\n", e.Name, describe(e.ProjectID), e.Status, unixTime(e.StartTime), unixTime(e.EndTime))
				}
			})
		},
	}
	scopeFlag(activate)
	activate.Flags().StringSliceVarP(&roleNames, "role", "r", nil, "a role to activate, e.g. roles/cloudsql.client (repeat for several; required)")
	_ = activate.MarkFlagRequired("role")

	request := &cobra.Command{
		Use: "request", Short: "Ask peers to approve a role that needs approval", Args: exactArgs(0, "no arguments; the role goes in --role"),
		Example: "  jitctl request -p prod-api --role roles/run.developer --peer dave@example.com -j 'CHG-7 deploy' --duration 1h",
		RunE: func(c *cobra.Command, _ []string) error {
			if len(roleNames) != 1 {
				return usageError{errors.New("request takes exactly one --role")}
			}
			if err := checkTiming(duration, start); err != nil {
				return err
			}
			resource, err := sf.resource(true)
			if err != nil {
				return err
			}
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			ids, err := resolveRoles(ctx, cl, resource, roleNames, "MPA")
			if err != nil {
				return err
			}
			body := map[string]any{"entitlementId": ids[0], "peers": peers, "justification": justification}
			if err := addTiming(ctx, cl, body, duration, start); err != nil {
				return err
			}
			var out activationResponse
			raw, err := cl.call(ctx, http.MethodPost, apiPath(resource)+"/roles/request", nil, body, &out)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				reviewers := make([]string, len(out.Reviewers))
				for i, r := range out.Reviewers {
					reviewers[i] = r.Email
				}
				for _, e := range out.Entitlements {
					_, _ = fmt.Fprintf(w, "Requested %s on %s; asked %s to approve%s.\n", e.Name, describe(e.ProjectID), strings.Join(reviewers, ", "), needs(out.ApprovalsRequired))
				}
			})
		},
	}
	scopeFlag(request)
	request.Flags().StringSliceVarP(&roleNames, "role", "r", nil, "the role to request (required)")
	request.Flags().StringSliceVar(&peers, "peer", nil, "a reviewer's email (repeat for several; required)")
	_ = request.MarkFlagRequired("role")
	_ = request.MarkFlagRequired("peer")

	for _, c := range []*cobra.Command{activate, request} {
		c.Flags().StringVarP(&justification, "justification", "j", "", "why you need it, e.g. a ticket number (required)")
		c.Flags().DurationVarP(&duration, "duration", "d", 0, "how long, e.g. 30m or 2h (default: the app's default)")
		c.Flags().StringVar(&start, "start", "", "start later, at this RFC 3339 time (default: now)")
		_ = c.MarkFlagRequired("justification")
	}

	approve := &cobra.Command{
		Use: "approve TOKEN|LINK", Short: "Approve a request, given its token or the link from the email", Args: exactArgs(1, "the request's token or link"),
		RunE: func(c *cobra.Command, args []string) error {
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			var out activationResponse
			raw, err := cl.call(ctx, http.MethodPost, "/api/activation-request", url.Values{"activation": {requestToken(args[0])}}, nil, &out)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				for _, e := range out.Entitlements {
					if e.Status != "ACTIVE" {
						// A request that needs several approvals: ours is recorded.
						_, _ = fmt.Fprintf(w, "Recorded your approval of %s on %s for %s: %s; it needs %s.\n", e.Name, describe(e.ProjectID), out.Beneficiary.Email, progress(out), more(out))
						continue
					}
					_, _ = fmt.Fprintf(w, "Approved %s on %s for %s: %s, %s to %s; %s\n", e.Name, describe(e.ProjectID), out.Beneficiary.Email, e.Status, unixTime(e.StartTime), unixTime(e.EndTime), progress(out))
				}
			})
		},
	}

	var reason string
	reject := &cobra.Command{
		Use: "reject TOKEN|LINK", Short: "Reject a request, given its token or link", Args: exactArgs(1, "the request's token or link"),
		RunE: func(c *cobra.Command, args []string) error {
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			body := map[string]any{}
			if reason != "" {
				body["reason"] = reason
			}
			var out activationResponse
			raw, err := cl.call(ctx, http.MethodPost, "/api/activation-request/reject", url.Values{"activation": {requestToken(args[0])}}, body, &out)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				if len(out.Entitlements) == 0 {
					_, _ = fmt.Fprintln(w, "Rejected the request.")
				}
				for _, e := range out.Entitlements {
					_, _ = fmt.Fprintf(w, "Rejected the request of %s for %s on %s.\n", out.Beneficiary.Email, e.Name, describe(e.ProjectID))
				}
			})
		},
	}
	reject.Flags().StringVar(&reason, "reason", "", "why, for the requester")

	// end and extend name an activation by its ID, or by where and which
	// role: the caller's one activation of that role there.
	var (
		target     scopeFlags
		targetRole string
		targetUser string
	)
	findActivation := func(ctx context.Context, cl *client, args []string) (string, error) {
		byName := target.set() || targetRole != ""
		switch {
		case len(args) == 1 && byName:
			return "", usageError{errors.New("give the activation's ID, or its --project (--folder, --organization) and --role, not both")}
		case len(args) == 1:
			return args[0], nil
		case !byName:
			return "", usageError{errors.New("expected the activation's ID from 'jitctl status', or --project (--folder, --organization) and --role")}
		case targetRole == "":
			return "", usageError{errors.New("--role is required with --project, --folder or --organization")}
		}
		resource, err := target.resource(true)
		if err != nil {
			return "", err
		}
		return resolveActivation(ctx, cl, resource, targetRole, targetUser)
	}
	targetFlags := func(c *cobra.Command, verb string) {
		c.Flags().StringVarP(&target.project, "project", "p", "", "the project of the activation to "+verb+" (with --role, instead of an ID)")
		c.Flags().StringVar(&target.folder, "folder", "", "its folder, instead of a project")
		c.Flags().StringVar(&target.organization, "organization", "", "the organization, instead of a project")
		c.Flags().StringVarP(&targetRole, "role", "r", "", "its role, e.g. roles/cloudsql.client")
	}

	end := &cobra.Command{
		Use: "end [ID]", Short: "End an active or scheduled activation, by ID (see status) or by project and role", Args: cobra.MaximumNArgs(1),
		Example: "  jitctl end -p prod-db -r roles/cloudsql.client\n  jitctl end --folder 1001 -r roles/logging.viewer\n  jitctl end ID",
		RunE: func(c *cobra.Command, args []string) error {
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			id, err := findActivation(ctx, cl, args)
			if err != nil {
				return err
			}
			var out activation
			raw, err := cl.call(ctx, http.MethodPost, "/api/activations/end", nil, map[string]any{"id": id}, &out)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				_, _ = fmt.Fprintf(w, "Ended %s on %s for %s.\n", out.Role, out.Resource, out.Beneficiary)
			})
		},
	}
	targetFlags(end, "end")
	end.Flags().StringVar(&targetUser, "user", "", "with --role: someone else's activation (administrators)")

	var extendBy time.Duration
	extend := &cobra.Command{
		Use: "extend [ID]", Short: "Extend my activation of a self-approval role, by ID or by project and role", Args: cobra.MaximumNArgs(1),
		Example: "  jitctl extend -p prod-db -r roles/cloudsql.client -d 1h\n  jitctl extend ID -d 30m",
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkTiming(extendBy, ""); err != nil {
				return err
			}
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			id, err := findActivation(ctx, cl, args)
			if err != nil {
				return err
			}
			body := map[string]any{"id": id}
			if err := addTiming(ctx, cl, body, extendBy, ""); err != nil {
				return err
			}
			var out activation
			raw, err := cl.call(ctx, http.MethodPost, "/api/activations/extend", nil, body, &out)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				_, _ = fmt.Fprintf(w, "Extended %s on %s for %s until %s.\n", out.Role, out.Resource, out.Beneficiary, out.End)
			})
		},
	}
	targetFlags(extend, "extend")
	extend.Flags().DurationVarP(&extendBy, "duration", "d", 0, "how long from now, e.g. 1h (default: the app's default)")

	var (
		forUser string
		all     bool
	)
	status := &cobra.Command{
		Use: "status", Aliases: []string{"access"}, Short: "Show my active and scheduled access", Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			q := url.Values{}
			if forUser != "" {
				q.Set("user", forUser)
			}
			if all {
				q.Set("all", "true")
			}
			var out struct{ Activations []activation }
			raw, err := cl.call(ctx, http.MethodGet, "/api/activations", q, nil, &out)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				if len(out.Activations) == 0 {
					_, _ = fmt.Fprintln(w, "No active or scheduled access.")
					return
				}
				_, _ = fmt.Fprintln(w, "RESOURCE\tROLE\tUSER\tSTATUS\tSTART\tEND\tAPPROVED BY\tID")
				for _, a := range out.Activations {
					_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Resource, a.Role, a.Beneficiary, a.Status, a.Start, a.End, dash(a.ApprovedBy), a.ID)
				}
			})
		},
	}
	status.Flags().StringVar(&forUser, "user", "", "another user's access (administrators)")
	status.Flags().BoolVar(&all, "all", false, "everybody's access (administrators)")

	var hf struct{ user, resource, role, from, to, pageToken string }
	var (
		pageSize int
		kinds    []string
	)
	history := &cobra.Command{
		Use: "history", Short: "Show what happened: requests, approvals, activations, ends", Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			q := url.Values{}
			for k, v := range map[string]string{"user": hf.user, "resource": hf.resource, "role": hf.role, "from": hf.from, "to": hf.to, "pageToken": hf.pageToken} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if pageSize > 0 {
				q.Set("pageSize", strconv.Itoa(pageSize))
			}
			for _, k := range kinds {
				q.Add("kind", k)
			}
			var out struct {
				Entries       []historyEntry
				NextPageToken string
			}
			raw, err := cl.call(ctx, http.MethodGet, "/api/history", q, nil, &out)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				_, _ = fmt.Fprintln(w, "TIME\tEVENT\tUSER\tRESOURCE\tROLE\tDETAILS")
				for _, e := range out.Entries {
					details := e.Justification
					if e.ApprovedBy != "" {
						details += " (approved by " + e.ApprovedBy + ")"
					}
					switch {
					case e.Failed && e.Reason != "":
						details += " (failed: " + e.Reason + ")"
					case e.Reason != "":
						details += " (reason: " + e.Reason + ")"
					}
					// The app names each entry (title); an older one sends only the id.
					name := e.Title
					if name == "" {
						name = e.Event
					}
					_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time, name, e.User, e.Resource, e.Role, strings.TrimSpace(details))
				}
				if out.NextPageToken != "" {
					_, _ = fmt.Fprintf(w, "More: --page-token %s\n", out.NextPageToken)
				}
			})
		},
	}
	hflags := history.Flags()
	hflags.StringVar(&hf.user, "user", "", "only this user's entries")
	hflags.StringVar(&hf.resource, "resource", "", "only this resource, e.g. projects/prod-db")
	hflags.StringVar(&hf.role, "role", "", "only this role")
	hflags.StringVar(&hf.from, "from", "", "from this RFC 3339 time")
	hflags.StringVar(&hf.to, "to", "", "up to this RFC 3339 time")
	hflags.IntVar(&pageSize, "page-size", 0, "entries per page")
	hflags.StringVar(&hf.pageToken, "page-token", "", "the page to show, from the previous one")
	hflags.StringSliceVar(&kinds, "kind", nil, "only these kinds: activation, request, decision, end, extension, read, all (default: all but reads)")

	var review bool
	requests := &cobra.Command{
		Use: "requests", Short: "List my approval requests, or with --review those I may approve", Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			cl, ctx, cancel, err := connect(c)
			if err != nil {
				return err
			}
			defer cancel()
			view := "mine"
			if review {
				view = "review"
			}
			var out struct{ Requests []approvalRequest }
			raw, err := cl.call(ctx, http.MethodGet, "/api/requests", url.Values{"view": {view}}, nil, &out)
			if err != nil {
				return err
			}
			return show(c, raw, func(w *tabwriter.Writer) {
				if len(out.Requests) == 0 {
					_, _ = fmt.Fprintln(w, "No requests.")
					return
				}
				_, _ = fmt.Fprintln(w, "STATUS\tBENEFICIARY\tRESOURCE\tROLE\tAPPROVALS\tEXPIRES\tTOKEN")
				for _, r := range out.Requests {
					_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", r.Status, r.Beneficiary, r.Resource, r.Role, len(r.Approvals), r.ApprovalsRequired, r.ExpiresAt, dash(r.Token))
				}
			})
		},
	}
	requests.Flags().BoolVar(&review, "review", false, "the requests waiting for my approval")

	root.AddCommand(projects, roles, activate, request, approve, reject, requests, end, extend, status, history)
	root.AddCommand(levels...)
}

// listRoles lists the caller's eligible roles on resource.
func listRoles(ctx context.Context, cl *client, resource string) ([]entitlement, []byte, error) {
	var out struct{ Entitlements []entitlement }
	raw, err := cl.call(ctx, http.MethodGet, apiPath(resource)+"/roles", nil, nil, &out)
	return out.Entitlements, raw, err
}

// resolveRoles turns role names (or entitlement IDs) into the IDs the API
// takes, from the caller's eligible roles of type typ, so that a typo says
// which roles there are rather than "invalid entitlement".
func resolveRoles(ctx context.Context, cl *client, resource string, names []string, typ string) ([]string, error) {
	ents, _, err := listRoles(ctx, cl, resource)
	if err != nil {
		return nil, err
	}
	var ids, eligible []string
	for _, n := range names {
		i := slices.IndexFunc(ents, func(e entitlement) bool { return e.ActivationType == typ && (e.ID == n || e.Name == n) })
		if i < 0 {
			for _, e := range ents {
				if e.ActivationType == typ {
					eligible = append(eligible, e.Name)
				}
			}
			kind := map[string]string{"JIT": "that you can activate yourself", "MPA": "that need approval"}[typ]
			if len(eligible) == 0 {
				return nil, &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("%s: you have no roles on %s %s", n, describe(resource), kind)}
			}
			return nil, &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("%s is not among your roles on %s %s: %s", n, describe(resource), kind, strings.Join(eligible, ", "))}
		}
		ids = append(ids, ents[i].ID)
	}
	return ids, nil
}

// addTiming puts the duration (the app's default when 0) and the start
// time in a request body.
func addTiming(ctx context.Context, cl *client, body map[string]any, d time.Duration, start string) error {
	minutes := int(d / time.Minute)
	if d == 0 {
		var policy struct{ DefaultActivationTimeout int }
		if _, err := cl.call(ctx, http.MethodGet, "/api/policy", nil, nil, &policy); err != nil {
			return err
		}
		minutes = policy.DefaultActivationTimeout
	}
	body["activationTimeout"] = minutes
	if start != "" {
		body["startTime"] = start
	}
	return nil
}

// checkTiming refuses what the app would, before asking it.
func checkTiming(d time.Duration, start string) error {
	if d < 0 || d%time.Minute != 0 {
		return usageError{fmt.Errorf("--duration %s: use a positive whole number of minutes, such as 30m or 2h", d)}
	}
	if start != "" {
		if _, err := time.Parse(time.RFC3339, start); err != nil {
			return usageError{fmt.Errorf("--start %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", start)}
		}
	}
	return nil
}

// requestToken takes a token, or the approval link that carries it.
func requestToken(arg string) string {
	if u, err := url.Parse(arg); err == nil && u.Query().Get("activation") != "" {
		return u.Query().Get("activation")
	}
	return arg
}

func unixTime(sec int64) string {
	if sec == 0 {
		return ""
	}
	return time.Unix(sec, 0).UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
