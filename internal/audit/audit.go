// Package audit keeps the audit trail: who activated, requested or
// approved what, why, from which device, and every refusal. Entries carry
// the original's event names and labels (api.activateRole, user,
// device_id, justification, …), so existing log queries and alerts keep
// working. They are written with cloud.google.com/go/logging to a
// dedicated log, synchronously, so that an activation is not reported done
// before its record is stored; without the Logging API (local runs) they
// go to stdout in the same JSON shape the original used.
package audit

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Severities, as Cloud Logging names them.
const (
	SeverityInfo    = "INFO"
	SeverityWarning = "WARNING"
	SeverityError   = "ERROR"
)

// maxLabel bounds a label value; Cloud Logging allows 64 KiB but a
// justification never needs more than a line.
const maxLabel = 1024

// Entry is one audit record.
type Entry struct {
	Event    string // the original's event id, e.g. "api.activateRole"
	Severity string
	Message  string
	Labels   map[string]string
	Time     time.Time
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
	w     Writer
	clock func() time.Time
}

// NewTrail returns a Trail writing to w.
func NewTrail(w Writer, clock func() time.Time) *Trail {
	if clock == nil {
		clock = time.Now
	}
	return &Trail{w: w, clock: clock}
}

// Record writes the audit entry of an event.
func (t *Trail) Record(ctx context.Context, e jit.Event) error {
	entry := FromEvent(e)
	entry.Time = t.clock()
	if err := t.w.Write(ctx, entry); err != nil {
		return fmt.Errorf("audit %s: %w", entry.Event, err)
	}
	return nil
}

// AuthenticationFailed records a refused IAP assertion.
func (t *Trail) AuthenticationFailed(ctx context.Context, cause error) error {
	return t.w.Write(ctx, Entry{
		Event: "iap.authenticate", Severity: SeverityWarning, Time: t.clock(),
		Message: "Authenticating the IAP principal failed: " + cause.Error(),
		Labels:  map[string]string{"event": "iap.authenticate", "error": sanitize(cause.Error())},
	})
}

// FromEvent maps a domain event to the original's log entry.
func FromEvent(e jit.Event) Entry {
	labels := map[string]string{}
	p := e.Actor
	labels["user"] = string(p.Email)
	labels["user_id"] = p.Subject
	labels["device_id"] = p.DeviceID
	labels["device_access_levels"] = strings.Join(p.AccessLevels, ",")

	var ents []string
	var minutes int
	for i, a := range e.Activations {
		ents = append(ents, a.Entitlement.String())
		if i == 0 {
			labels["activation_id"] = a.ID
			labels["activation_start"] = a.Start.UTC().Format(time.RFC3339)
			labels["activation_end"] = a.End.UTC().Format(time.RFC3339)
			labels["justification"] = a.Justification
			labels["role"] = a.Entitlement.Role
			labels["project_id"] = string(a.Entitlement.Project)
			labels["resource"] = a.Entitlement.FullResourceName()
			if a.Entitlement.ResourceCondition != "" {
				labels["resource_condition"] = a.Entitlement.ResourceCondition
			}
			minutes = int(a.Duration() / time.Minute)
			if a.Approver != "" {
				labels["approver"] = string(a.Approver)
			}
		}
	}
	entitlements := strings.Join(ents, ", ")
	labels["entitlements"] = entitlements
	var beneficiary jit.UserID
	if r := e.Request; r != nil {
		var reviewers []string
		for _, u := range r.Reviewers {
			reviewers = append(reviewers, string(u))
		}
		labels["reviewers"] = strings.Join(reviewers, ",")
		labels["activation_id"] = r.ID
		labels["justification"] = r.Justification
		labels["beneficiary"] = string(r.Beneficiary)
		beneficiary = r.Beneficiary
		if minutes == 0 {
			minutes = int(r.Duration / time.Minute)
		}
	}
	if e.Reason != "" {
		labels["reason"] = e.Reason
	}
	if e.Required > 1 {
		labels["approvals_required"] = fmt.Sprint(e.Required)
		var by []string
		for _, a := range e.Approvals {
			by = append(by, string(a.By))
		}
		labels["approvals"] = strings.Join(by, ",")
	}
	cause := ""
	if e.Err != nil {
		cause = jit.MessageOf(e.Err)
		if cause == "" {
			cause = "see the application log"
		}
		labels["error"] = jit.KindOf(e.Err).String()
	}
	entry := Entry{Severity: SeverityInfo, Labels: labels}
	switch e.Kind {
	case jit.EventSelfActivated:
		entry.Event = "api.activateRole"
		entry.Message = fmt.Sprintf("User %s activated %s for themselves for %d minutes", p.Email, entitlements, minutes)
	case jit.EventSelfActivateFailed:
		entry.Event, entry.Severity = "api.activateRole", SeverityError
		entry.Message = fmt.Sprintf("User %s failed to activate %s for themselves for %d minutes: %s", p.Email, entitlements, minutes, cause)
	case jit.EventRequested:
		entry.Event = "api.requestRole"
		entry.Message = fmt.Sprintf("User %s requested '%s' for %d minutes", p.Email, entitlements, minutes)
	case jit.EventRequestFailed:
		entry.Event, entry.Severity = "api.requestRole", SeverityError
		entry.Message = fmt.Sprintf("User %s failed to request '%s' for %d minutes: %s", p.Email, entitlements, minutes, cause)
	case jit.EventApproved:
		entry.Event = "api.activateRole"
		entry.Message = fmt.Sprintf("User %s approved '%s' for %s", p.Email, entitlements, beneficiary)
	case jit.EventApproveFailed:
		entry.Event, entry.Severity = "api.activateRole", SeverityError
		entry.Message = fmt.Sprintf("User %s failed to approve '%s' for %s: %s", p.Email, entitlements, beneficiary, cause)
	case jit.EventRequestAccessDenied:
		entry.Event, entry.Severity = "api.getActivationRequest", SeverityWarning
		entry.Message = fmt.Sprintf("User %s was denied access to an activation request: %s", p.Email, cause)
	case jit.EventApprovalRecorded:
		entry.Event = "api.approveRequest"
		entry.Message = fmt.Sprintf("User %s approved '%s' for %s (%d of %d approvals)", p.Email, entitlements, beneficiary, len(e.Approvals), e.Required)
	case jit.EventRejected:
		entry.Event = "api.rejectRequest"
		entry.Message = fmt.Sprintf("User %s rejected '%s' for %s", p.Email, entitlements, beneficiary)
	case jit.EventRejectFailed:
		entry.Event, entry.Severity = "api.rejectRequest", SeverityError
		entry.Message = fmt.Sprintf("User %s failed to reject '%s' for %s: %s", p.Email, entitlements, beneficiary, cause)
	default:
		if !lifecycleEntry(&entry, e, entitlements, cause) {
			entry.Event = "api." + string(e.Kind)
			entry.Message = fmt.Sprintf("User %s: %s", p.Email, e.Kind)
		}
	}
	labels["event"] = entry.Event
	for k, v := range labels {
		if v == "" {
			delete(labels, k)
			continue
		}
		labels[k] = sanitize(v)
	}
	entry.Message = sanitize(entry.Message)
	if e.Kind == jit.EventRequested {
		entry.Token = e.Token
	}
	return entry
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
