// Package audit keeps the audit trail: who activated, requested or
// approved what, why, from which device, and every refusal.
//
// Entries are the original's (Just-In-Time Access 1.8.1): the same event
// names (api.activateRole, api.requestRole, api.getActivationRequest,
// api.listProjects, api.listEligibleRoles, api.listPeers, iap.authenticate),
// the same labels with the same values (user, user_id, device_id "unknown"
// when IAP sent none, device_access_levels and reviewers joined with ", ",
// activation_start in Java's OffsetDateTime form, project, error as the
// original's exception name, …), the same severities and messages, and
// the request's trace. By default they are JSON lines on stdout, which App
// Engine and Cloud Run ingest into the platform's stdout log, exactly where
// the original's went, so that existing queries, sinks, log-based metrics
// and alerts keep working. CloudLogger writes them through the Logging API
// to a log of their own (jitaccess-audit) instead; History reads both.
// Labels the original did not write (role, project_id, resource,
// beneficiary, approver, resource_condition) are additions, never
// replacements.
package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitaccess/jitaccess/internal/cloudlog"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// Severities, as Cloud Logging names them.
const (
	SeverityInfo    = "INFO"
	SeverityWarning = "WARNING"
	SeverityError   = "ERROR"
)

// Event names, as the original's LogEvents.
const (
	EventActivateRole         = "api.activateRole"
	EventRequestRole          = "api.requestRole"
	EventGetActivationRequest = "api.getActivationRequest"
	EventListProjects         = "api.listProjects"
	EventListEligibleRoles    = "api.listEligibleRoles"
	EventListPeers            = "api.listPeers"
	EventAuthenticate         = "iap.authenticate"
	// Events 1.8.1 did not have: approvals short of a quorum, rejections,
	// withdrawals.
	EventApproveRequest  = "api.approveRequest"
	EventRejectRequest   = "api.rejectRequest"
	EventWithdrawRequest = "api.withdrawRequest"
)

// maxLabel bounds a label value; Cloud Logging allows 64 KiB but a
// justification never needs more than a line.
const maxLabel = 1024

// unknownDevice is the original's device_id when IAP sent none
// (IapAssertion.device()).
const unknownDevice = "unknown"

// Entry is one audit record.
type Entry struct {
	Event    string // the original's event id, e.g. "api.activateRole"
	Severity string
	Message  string
	Labels   map[string]string
	Time     time.Time
	// Trace is the request's trace, "projects/P/traces/T", or "".
	Trace string
	// Token is an approval request's signed token, kept in the payload
	// (not a label: it is longer than labels allow) of api.requestRole.
	Token string
}

// Writer stores entries.
type Writer interface {
	Write(ctx context.Context, e Entry) error
}

// Trail turns domain events into audit entries and writes them.
type Trail struct {
	w        Writer
	clock    func() time.Time
	audience string
}

// TrailOption configures a Trail.
type TrailOption func(*Trail)

// WithAudience names the IAP audience in the message of a refused
// assertion, as the original did; "" when the audience is not checked.
func WithAudience(audience string) TrailOption {
	return func(t *Trail) { t.audience = audience }
}

// NewTrail returns a Trail writing to w.
func NewTrail(w Writer, clock func() time.Time, opts ...TrailOption) *Trail {
	if clock == nil {
		clock = time.Now
	}
	t := &Trail{w: w, clock: clock}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Record writes the audit entry of an event.
func (t *Trail) Record(ctx context.Context, e jit.Event) error {
	entry := FromEvent(e)
	entry.Time = t.clock()
	entry.Trace = cloudlog.Trace(ctx)
	if err := t.w.Write(ctx, entry); err != nil {
		return fmt.Errorf("audit %s: %w", entry.Event, err)
	}
	return nil
}

// msgIAPMissing is the user message of a request without an assertion;
// AuthenticationFailed recognises the case by it.
const msgIAPMissing = "Identity-Aware Proxy must be enabled for this application"

// AuthenticationFailed records a refused IAP assertion at ERROR, with the
// original's messages. The entry has no user labels: nobody was
// authenticated.
func (t *Trail) AuthenticationFailed(ctx context.Context, cause error) error {
	var msg string
	switch {
	case jit.MessageOf(cause) == msgIAPMissing:
		msg = "Missing IAP assertion in header, IAP might be disabled"
	case t.audience != "":
		msg = fmt.Sprintf("Verifying IAP assertion failed. This might be because the IAP assertion was tampered with, or because it had the wrong audience (expected audience: %s).: %s", t.audience, detail(cause))
	default:
		msg = "Verifying IAP assertion failed. This might be because the IAP assertion was tampered with: " + detail(cause)
	}
	return t.w.Write(ctx, Entry{
		Event: EventAuthenticate, Severity: SeverityError, Time: t.clock(), Trace: cloudlog.Trace(ctx),
		Message: sanitize(msg),
		Labels:  map[string]string{"event": EventAuthenticate},
	})
}

// detail is the innermost cause of err, the part that says why (the
// original logged the exception's full message).
func detail(err error) string {
	for {
		var e *jit.Error
		if !errors.As(err, &e) || e.Err == nil {
			break
		}
		err = e.Err
	}
	if m := jit.MessageOf(err); m != "" {
		return m
	}
	return err.Error()
}

// FromEvent maps a domain event to the original's log entry.
func FromEvent(e jit.Event) Entry {
	p := e.Actor
	l := labels{
		"user":                 string(p.Email),
		"user_id":              p.Subject,
		"device_id":            p.DeviceID,
		"device_access_levels": strings.Join(p.AccessLevels, ", "),
	}
	if l["device_id"] == "" {
		l["device_id"] = unknownDevice
	}
	if e.Reason != "" {
		l["reason"] = e.Reason
	}
	if e.Comment != "" {
		// An approver's comment (jitaccess addition), checked to be one
		// short printable line (jit.Policy.CheckComment).
		l["comment"] = e.Comment
	}
	if e.Required > 1 {
		l["approvals_required"] = fmt.Sprint(e.Required)
		var by []string
		for _, a := range e.Approvals {
			by = append(by, string(a.By))
		}
		l["approvals"] = strings.Join(by, ",")
	}
	cause := ""
	if e.Err != nil {
		cause = jit.MessageOf(e.Err)
		if cause == "" {
			cause = "see the application log"
		}
		// The message ends with the cause, but a cause (and the
		// entitlement before it) may contain ": " itself: the history
		// reads the cause from its own label.
		l["error_message"] = cause
	}
	acts := e.Activations
	var quoted []string
	for _, a := range acts {
		quoted = append(quoted, "'"+a.Entitlement.String()+"'")
	}
	minutes := 0
	if len(acts) > 0 {
		minutes = int(acts[0].Duration() / time.Minute)
	} else if e.Request != nil {
		minutes = int(e.Request.Duration / time.Minute)
	}
	ent := e.Entitlement
	switch {
	case e.Request != nil:
		ent = e.Request.Entitlement
	case len(acts) > 0:
		ent = acts[0].Entitlement
	}
	project := e.Project
	if project == "" {
		project = ent.Project
	}

	entry := Entry{Severity: SeverityInfo}
	switch e.Kind {
	case jit.EventSelfActivated:
		entry.Event = EventActivateRole
		entry.Message = fmt.Sprintf("User %s activated %s for themselves for %d minutes", p.Email, strings.Join(quoted, ", "), minutes)
		l.request(e)
	case jit.EventSelfActivateFailed:
		entry.Event, entry.Severity = EventActivateRole, SeverityError
		entry.Message = fmt.Sprintf("User %s failed to activate %s for themselves for %d minutes: %s", p.Email, strings.Join(quoted, ", "), minutes, cause)
		l.request(e)
		l.failure(e.Err)
	case jit.EventRequested:
		entry.Event = EventRequestRole
		entry.Message = fmt.Sprintf("User %s requested '%s' for %d minutes", p.Email, ent, minutes)
		l.request(e)
	case jit.EventRequestInvalid:
		entry.Event, entry.Severity = EventActivateRole, SeverityError
		entry.Message = fmt.Sprintf("Received invalid activation request from user '%s' for '%s': %s", p.Email, ent, cause)
		l.failure(e.Err)
	case jit.EventRequestFailed:
		entry.Event, entry.Severity = EventRequestRole, SeverityError
		entry.Message = fmt.Sprintf("User %s failed to request '%s' for %d minutes: %s", p.Email, ent, minutes, cause)
		l.role(ent)
		l.failure(e.Err)
		if e.Request != nil {
			l["justification"] = e.Request.Justification
		}
	case jit.EventApproved:
		entry.Event = EventActivateRole
		entry.Message = fmt.Sprintf("User %s approved '%s' for %s", p.Email, ent, beneficiaryOf(e))
		l.request(e)
	case jit.EventApproveFailed:
		entry.Event, entry.Severity = EventActivateRole, SeverityError
		if e.Request == nil {
			// The token itself was refused: nothing is known of the request.
			entry.Message = "Accessing the activation request failed: " + detail(e.Err)
		} else {
			entry.Message = fmt.Sprintf("User %s failed to activate '%s' for %s: %s", p.Email, ent, beneficiaryOf(e), cause)
			l.request(e)
		}
		l.failure(e.Err)
	case jit.EventRequestAccessDenied:
		entry.Event, entry.Severity = EventGetActivationRequest, SeverityError
		entry.Message = "Accessing the activation request failed: " + detail(e.Err)
		l.failure(e.Err)
	case jit.EventApprovalRecorded:
		entry.Event = EventApproveRequest
		entry.Message = fmt.Sprintf("User %s approved '%s' for %s (%d of %d approvals)", p.Email, ent, beneficiaryOf(e), len(e.Approvals), e.Required)
		l.request(e)
	case jit.EventRejected:
		entry.Event = EventRejectRequest
		entry.Message = fmt.Sprintf("User %s rejected '%s' for %s", p.Email, ent, beneficiaryOf(e))
		l.request(e)
	case jit.EventRejectFailed:
		entry.Event, entry.Severity = EventRejectRequest, SeverityError
		entry.Message = fmt.Sprintf("User %s failed to reject '%s' for %s: %s", p.Email, ent, beneficiaryOf(e), cause)
		l.request(e)
		l.failure(e.Err)
	case jit.EventWithdrawn:
		entry.Event = EventWithdrawRequest
		entry.Message = fmt.Sprintf("User %s withdrew their request for '%s'", p.Email, ent)
		l.request(e)
	case jit.EventWithdrawFailed:
		entry.Event, entry.Severity = EventWithdrawRequest, SeverityError
		if e.Request == nil {
			entry.Message = "Accessing the activation request failed: " + detail(e.Err)
		} else {
			entry.Message = fmt.Sprintf("User %s failed to withdraw the request for '%s' of %s: %s", p.Email, ent, beneficiaryOf(e), cause)
			l.request(e)
		}
		l.failure(e.Err)
	case jit.EventProjectsListed:
		entry.Event = EventListProjects
		entry.Message = fmt.Sprintf("Found %d available projects", e.Count)
	case jit.EventListProjectsFailed:
		entry.Event, entry.Severity = EventListProjects, SeverityError
		entry.Message = "Listing available projects failed: " + cause
		l.failure(e.Err)
	case jit.EventListRolesFailed:
		entry.Event, entry.Severity = EventListEligibleRoles, SeverityError
		entry.Message = "Listing project roles failed: " + cause
		l.failure(e.Err)
	case jit.EventListPeersFailed:
		entry.Event, entry.Severity = EventListPeers, SeverityError
		entry.Message = "Listing peers failed: " + cause
		l.role(ent)
		l.failure(e.Err)
	default:
		if !lifecycleEntry(&entry, l, e, strings.Join(quoted, ", "), cause) {
			entry.Event = "api." + string(e.Kind)
			entry.Message = fmt.Sprintf("User %s: %s", p.Email, e.Kind)
		}
	}
	if project != "" {
		// The original labelled most events with "project"; every event
		// about a project carries it here, so that one query finds them all.
		l["project"] = string(project)
		if _, ok := l["project_id"]; !ok {
			l["project_id"] = string(project)
		}
	}
	l["event"] = entry.Event
	entry.Labels = l.clean()
	entry.Message = sanitize(entry.Message)
	if e.Kind == jit.EventRequested {
		entry.Token = e.Token
	}
	return entry
}

func beneficiaryOf(e jit.Event) jit.UserID {
	if e.Request != nil {
		return e.Request.Beneficiary
	}
	if len(e.Activations) > 0 {
		return e.Activations[0].Beneficiary
	}
	return ""
}

// labels are an entry's labels while they are built.
type labels map[string]string

// request adds the original's labels of an activation request
// (AbstractAction.addLabels(entry, request)), and ours.
func (l labels) request(e jit.Event) {
	var ents []string
	for _, a := range e.Activations {
		ents = append(ents, a.Entitlement.String())
	}
	if len(e.Activations) > 0 {
		a := e.Activations[0]
		l["activation_id"] = a.ID
		l["activation_start"] = javaTime(a.Start)
		l["activation_end"] = javaTime(a.End)
		l["justification"] = a.Justification
		if a.Approver != "" {
			l["approver"] = string(a.Approver)
		}
		l["project_id"] = string(a.Entitlement.Project)
		l["resource"] = a.Entitlement.FullResourceName()
		if len(e.Activations) == 1 {
			l["role"] = a.Entitlement.Role
			if a.Entitlement.ResourceCondition != "" {
				l["resource_condition"] = a.Entitlement.ResourceCondition
			}
		}
	}
	if r := e.Request; r != nil {
		reviewers := make([]string, len(r.Reviewers))
		for i, u := range r.Reviewers {
			reviewers[i] = string(u)
		}
		l["reviewers"] = strings.Join(reviewers, ", ")
		l["activation_id"] = r.ID
		l["justification"] = r.Justification
		l["beneficiary"] = string(r.Beneficiary)
		if len(ents) == 0 {
			ents = []string{r.Entitlement.String()}
		}
	}
	l["entitlements"] = strings.Join(ents, ", ")
}

// role adds the original's labels of a role (addLabels(entry, ProjectRole)).
func (l labels) role(ent jit.Entitlement) {
	if ent.Role == "" {
		return
	}
	l["role"] = ent.Role
	l["resource"] = ent.FullResourceName()
	l["project_id"] = string(ent.Project)
}

// failure adds the error label: the name of the exception the original
// would have thrown, so that queries on labels.error keep matching.
func (l labels) failure(err error) {
	if err != nil {
		l["error"] = exceptionName(err)
	}
}

// clean drops empty labels, except the base labels that the original
// always wrote, and sanitizes values.
func (l labels) clean() map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		switch {
		case v != "":
		case k == "user", k == "user_id", k == "device_access_levels":
		default:
			continue
		}
		out[k] = sanitize(v)
	}
	return out
}

// exceptionName maps an error to the class name of the exception 1.8.1
// threw in the same case (AbstractAction.addLabels(entry, exception)).
func exceptionName(err error) string {
	var e *jit.Error
	for x := err; errors.As(x, &e); x = e.Err {
		if e.Op == "jit.CheckJustificationPattern" {
			return "InvalidJustificationException"
		}
		if e.Err == nil {
			break
		}
	}
	switch jit.KindOf(err) {
	case jit.KindInvalid:
		return "IllegalArgumentException"
	case jit.KindUnauthenticated:
		return "NotAuthenticatedException"
	case jit.KindDenied:
		return "AccessDeniedException"
	case jit.KindNotFound:
		return "ResourceNotFoundException"
	case jit.KindTooMany:
		return "QuotaExceededException"
	case jit.KindConflict, jit.KindUpstream, jit.KindUnavailable:
		return "IOException"
	}
	return "IllegalStateException"
}

// javaTime formats t as Java's OffsetDateTime.toString() in UTC did for
// the original's activation_start and activation_end: seconds are left out
// when they are zero ("2024-01-01T10:00Z").
func javaTime(t time.Time) string {
	t = t.UTC()
	switch ns := t.Nanosecond(); {
	case ns%1e6 != 0 && ns%1e3 != 0:
		return t.Format("2006-01-02T15:04:05.000000000Z")
	case ns%1e6 != 0:
		return t.Format("2006-01-02T15:04:05.000000Z")
	case ns != 0:
		return t.Format("2006-01-02T15:04:05.000Z")
	case t.Second() != 0:
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04Z")
}

// ParseTime reads an activation_start or activation_end label, in the
// original's form or RFC 3339, for readers of the history.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("audit: %q is not a time", s)
}

// sanitize keeps log injection out of the trail: control and format
// characters are escaped, and values are bounded.
func sanitize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > maxLabel {
		cut := maxLabel
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}
