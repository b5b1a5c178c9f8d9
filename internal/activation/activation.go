// Package activation holds the use cases of jitaccess: list what a user may
// activate, activate it with a justification, request a peer's approval,
// and approve. It enforces the rules in the original's order, re-checks
// eligibility on every write, and talks to Google only through the small
// interfaces declared here, which adapters implement and main wires.
package activation

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// The use cases have one port per collaborator: Catalog (eligibility
// reads), Policies (policy writes), Tokens, Notifier and Auditor. Every
// write goes through Policies with a jit.Confirmation of what it rests on,
// which the adapter confirms in the live policies inside its
// read-modify-write; the Catalog, which may be cached or lag IAM, only
// finds where to look (DESIGN.md §10). Projects, folders and the
// organization are one jit.Scope to all of them.

// Catalog tells who is eligible for what. Its answers may come from a
// cache or from the Cloud Asset index, which lags IAM: they are shown,
// and they say where a write is to confirm what it rests on, but no write
// takes them for granted. internal/catalog implements it.
type Catalog interface {
	// Projects lists the projects where user may have eligible roles.
	Projects(ctx context.Context, user jit.UserID) ([]jit.ProjectID, error)
	// Nodes lists "folders/F" and "organizations/O" where user may have
	// eligible roles.
	Nodes(ctx context.Context, user jit.UserID) ([]string, error)
	// EntitlementsAt lists user's eligible entitlements on scope with
	// their status and grounds, and non-fatal warnings from the analysis.
	EntitlementsAt(ctx context.Context, user jit.UserID, scope jit.Scope) ([]jit.EligibleEntitlement, []string, error)
	// EligibilityAt lists user's eligible entitlements on scope with their
	// grounds but not necessarily their status (which a write reads
	// itself).
	EligibilityAt(ctx context.Context, user jit.UserID, scope jit.Scope) ([]jit.EligibleEntitlement, error)
	// Holders lists the users eligible for ent with activation type typ,
	// directly or through groups.
	Holders(ctx context.Context, ent jit.Entitlement, typ jit.ActivationType) ([]jit.UserID, error)
	// GroundsOf says where each of users holds ent with typ; users who do
	// not are left out.
	GroundsOf(ctx context.Context, users []jit.UserID, ent jit.Entitlement, typ jit.ActivationType) (map[jit.UserID][]jit.Grounds, error)
	// Approvers returns ent's dedicated approvers and quorum where approver
	// bindings declare them, its peers, and the grounds of each.
	Approvers(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error)
	// ApprovalRule says whether ent has dedicated approvers and its
	// quorum, listing no one (cheaper than Approvers).
	ApprovalRule(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error)
}

// Policies writes activations and approval decisions into the IAM policy
// of their scope, each in one read-modify-write guarded by the etag that
// first confirms conf in the live policies of the scope and its
// ancestors, and refuses (KindDenied, nothing written) when it no longer
// holds. internal/iam implements it.
type Policies interface {
	// Grant writes activations, all for one scope and one beneficiary.
	Grant(ctx context.Context, activations []jit.Activation, conf jit.Confirmation) error
	// Decide applies decide's decision about req; the record decide sees
	// carries the approvals the live policies require (Required).
	Decide(ctx context.Context, req jit.ActivationRequest, conf jit.Confirmation, decide func(jit.RequestRecord) (jit.Decision, error)) (jit.RequestRecord, error)
	// RequestRecord reads what the live policy says about req.
	RequestRecord(ctx context.Context, req jit.ActivationRequest) (jit.RequestRecord, error)
	// RequestRecords is RequestRecord for several requests, each
	// scope's policy read once; errs holds each request's read error.
	RequestRecords(ctx context.Context, reqs []jit.ActivationRequest) (recs []jit.RequestRecord, errs []error)
	// Prepare starts learning what a write to scope will confirm
	// against (its ancestry, for which hint, nearest first, may be a
	// guess), for a write that may follow, and returns at once with the
	// ancestry known so far. It never decides anything.
	Prepare(ctx context.Context, scope jit.Scope, hint []string) []string
}

// Tokens turns approval requests into URL-safe signed tokens and back.
type Tokens interface {
	Sign(ctx context.Context, req jit.ActivationRequest) (string, error)
	Verify(ctx context.Context, token string) (jit.ActivationRequest, error)
	// Inspect verifies all but the deadline, for lists that show
	// expired requests; nothing is decided on it.
	Inspect(ctx context.Context, token string) (jit.ActivationRequest, error)
}

// Notifier tells people about events (email, Pub/Sub, Chat, webhooks).
// Nil-safe: a Service with no notifier notifies nobody.
type Notifier interface {
	Notify(ctx context.Context, e jit.Event) error
	// Prepare sets up, before an event is complete, what sending its
	// notification needs (internal/notify: the SMTP session), so that it
	// overlaps the work that completes the event — a request's email
	// session is opened while its token is being signed. It returns at
	// once; send notifies e on what was prepared, failing as Notify would
	// (a set-up failure included), and discard gives it up without
	// sending anything. Exactly one of the two is to be called.
	Prepare(ctx context.Context, kind jit.EventKind) (send func(context.Context, jit.Event) error, discard func())
}

// Auditor records events in the audit trail.
type Auditor interface {
	Record(ctx context.Context, e jit.Event) error
}

// RateLimiter takes n events from key's allowance, or says how long until
// there is enough. internal/ratelimit implements it; a nil *Limiter
// allows everything.
type RateLimiter interface {
	Allow(key string, n int) (ok bool, retryAfter time.Duration)
}

// Options configure a Service.
type Options struct {
	Policy jit.Policy
	// RequestTimeout is ACTIVATION_REQUEST_TIMEOUT: how long reviewers have
	// to approve (capped at the maximum activation duration, as the original).
	RequestTimeout time.Duration
	// CanNotify reports whether a notifier that reaches reviewers is
	// configured; without one, multi-party approval is refused.
	CanNotify bool
	// MaxScheduleAhead bounds how far ahead a scheduled activation may
	// start (ACTIVATION_MAX_START_DELAY); 0 means DefaultMaxScheduleAhead.
	MaxScheduleAhead time.Duration
	// FoldersAndOrganizations allows activation on folders and the
	// organization (ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS).
	FoldersAndOrganizations bool
	// FollowUpTimeout bounds each audit record and notification. They run
	// detached from the caller's cancellation: once a binding is written,
	// its audit record and emails must not depend on the client staying
	// connected. Default 30s.
	FollowUpTimeout time.Duration
	// EmailLimit bounds the approval-request emails each requester sends,
	// counted per reviewer (RATE_LIMIT_EMAILS); nil means no limit.
	EmailLimit RateLimiter
	Clock      func() time.Time
	Random     io.Reader
	Logger     *slog.Logger
	// RequestLog reads requests' events back from the audit log
	// (internal/audit); nil where the audit log is not readable (stdout
	// only), and then decisions rest on IAM alone and lists are refused.
	RequestLog RequestLog
	// Link turns a request's token into the link of its page, for the
	// notifications of approvals and rejections; nil leaves them without
	// one. It is built from EXTERNAL_URL only, never a request's Host.
	Link func(token string, scope jit.Scope) string
	// DefaultQuorum is how many distinct approvals a request needs where
	// its role declares no quorum (ACTIVATION_REQUEST_APPROVALS); 0 means 1.
	DefaultQuorum int
}

// Service implements the use cases.
type Service struct {
	catalog  Catalog
	policies Policies
	tokens   Tokens
	notifier Notifier
	auditor  Auditor
	opts     Options
}

// New returns a Service. notifier and auditor may be nil.
func New(catalog Catalog, policies Policies, tokens Tokens, notifier Notifier, auditor Auditor, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Random == nil {
		opts.Random = rand.Reader
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FollowUpTimeout <= 0 {
		opts.FollowUpTimeout = defaultFollowUpTimeout
	}
	return &Service{catalog: catalog, policies: policies, tokens: tokens, notifier: notifier, auditor: auditor, opts: opts}
}

// Policy returns the rules requests are checked against.
func (s *Service) Policy() jit.Policy { return s.opts.Policy }

const defaultFollowUpTimeout = 30 * time.Second

// followUp returns a context for work that must complete whatever the
// caller does: it keeps ctx's values (trace, log labels) but not its
// cancellation or deadline, and has a deadline of its own.
func (s *Service) followUp(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.opts.FollowUpTimeout)
}

func (s *Service) now() time.Time { return s.opts.Clock().UTC().Truncate(time.Second) }

// record writes an audit event, to completion even if the caller has gone
// (see followUp). A failure to audit is logged loudly but does not undo
// what already happened in IAM.
func (s *Service) record(ctx context.Context, e jit.Event) {
	if s.auditor == nil {
		return
	}
	ctx, cancel := s.followUp(ctx)
	defer cancel()
	if err := s.auditor.Record(ctx, e); err != nil {
		s.opts.Logger.ErrorContext(ctx, "writing the audit record failed",
			slog.String("event_kind", string(e.Kind)), slog.Any("error", err))
	}
}

// notify sends a notification after a grant, to completion even if the
// caller has gone (see followUp), and turns a failure into a warning for
// the caller: access was granted even if the email did not go out.
func (s *Service) notify(ctx context.Context, e jit.Event) []string {
	if s.notifier == nil {
		return nil
	}
	ctx, cancel := s.followUp(ctx)
	defer cancel()
	if err := s.notifier.Notify(ctx, e); err != nil {
		s.opts.Logger.WarnContext(ctx, "sending the notification failed",
			slog.String("event_kind", string(e.Kind)), slog.Any("error", err))
		return []string{"Access was granted, but sending the notification failed: " + messageOr(err, "see the logs for details")}
	}
	return nil
}

func messageOr(err error, fallback string) string {
	if m := jit.MessageOf(err); m != "" {
		return m
	}
	return fallback
}

type baseURLKey struct{}

// WithBaseURL returns a context that carries the app's root URL as the
// caller reached it ("https://host/"), for the links of the notifications
// a use case sends. It is request-scoped: the original derived it from the
// request, unless EXTERNAL_URL says otherwise.
func WithBaseURL(ctx context.Context, u string) context.Context {
	return context.WithValue(ctx, baseURLKey{}, u)
}

// BaseURLFrom returns the URL WithBaseURL set, or "".
func BaseURLFrom(ctx context.Context) string {
	u, _ := ctx.Value(baseURLKey{}).(string)
	return u
}

// recordAndNotify audits a decision (a grant, a rejection) and tells
// people about it at once: both only report what already happened in IAM,
// and neither waits for the other (the mail server is often the slowest
// step of a request).
func (s *Service) recordAndNotify(ctx context.Context, e jit.Event) []string {
	var wg sync.WaitGroup
	wg.Go(func() { s.record(ctx, e) })
	warnings := s.notify(ctx, e)
	wg.Wait()
	return warnings
}
