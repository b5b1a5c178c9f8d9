package jit

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxJustificationLength is the longest justification accepted, in
// characters. The original's UI allowed 100 but its server only 99; we accept
// the 100 the UI promises.
const MaxJustificationLength = 100

// MinDuration is the shortest activation.
const MinDuration = time.Minute

// MaxReviewersLimit is the most reviewers one approval request can name:
// the signed token carries every reviewer and travels in the approval
// link, so ACTIVATION_REQUEST_MAX_REVIEWERS cannot be set higher.
const MaxReviewersLimit = 100

// Policy holds the administrator's rules for activation requests
// (ACTIVATION_TIMEOUT, ACTIVATION_REQUEST_*, JUSTIFICATION_*).
type Policy struct {
	MaxDuration          time.Duration
	MaxRoles             int
	MinReviewers         int
	MaxReviewers         int
	JustificationPattern *regexp.Regexp // must match the whole justification; nil allows any
	JustificationHint    string
	// RequireApprovalComment is ACTIVATION_APPROVAL_COMMENT=required: an
	// approval without a comment is refused.
	RequireApprovalComment bool
}

// DefaultDuration is the duration the UI proposes: one hour, or less when the
// maximum is shorter (the original's rule).
func (p Policy) DefaultDuration() time.Duration {
	return min(time.Hour, p.MaxDuration)
}

// CheckJustification checks the shape of a justification: present, not too
// long, printable. Errors are KindInvalid with the original's messages.
func (p Policy) CheckJustification(j string) error {
	const op = "jit.CheckJustification"
	if strings.TrimSpace(j) == "" {
		return Invalid(op, "Provide a justification")
	}
	if !utf8.ValidString(j) {
		return Invalid(op, "The justification must be valid UTF-8 text")
	}
	if utf8.RuneCountInString(j) > MaxJustificationLength {
		return Invalid(op, "The justification is too long")
	}
	for _, r := range j {
		// Control and format characters enable log and header injection and
		// hide text from reviewers (bidi overrides); a ticket number never
		// needs them.
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return Invalid(op, "The justification contains characters that are not allowed")
		}
	}
	if HasRequestMarker(j) {
		return Invalid(op, msgRequestMarker)
	}
	return nil
}

const msgRequestMarker = `The justification cannot contain "(request mpa-…)": the app writes it to mark the request an approval was granted for`

// HasRequestMarker reports whether text carries the mark the app appends to
// an approved request's binding (" (request mpa-…)"), in any case and
// spacing. A justification that carried it could make a binding read as
// the decision of someone else's request (RequestIDOf); nobody needs it to
// justify access.
func HasRequestMarker(text string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		if !unicode.IsSpace(r) {
			b.WriteRune(r)
		}
	}
	return strings.Contains(b.String(), "(requestmpa-")
}

// MaxCommentLength bounds an approval's comment, in characters.
const MaxCommentLength = 200

// CheckComment checks an approval's comment (already trimmed): required
// when the policy says so, and like a rejection's reason one printable
// line of bounded length, since it goes into emails, chat messages and
// audit labels. Errors are KindInvalid.
func (p Policy) CheckComment(c string) error {
	const op = "jit.CheckComment"
	switch {
	case c == "" && p.RequireApprovalComment:
		return Invalid(op, "Add a comment to your approval: this deployment requires one")
	case !utf8.ValidString(c) || strings.ContainsFunc(c, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }):
		return Invalid(op, "The comment contains characters that are not allowed")
	case utf8.RuneCountInString(c) > MaxCommentLength:
		return Invalid(op, fmt.Sprintf("The comment is too long (at most %d characters)", MaxCommentLength))
	}
	return nil
}

// CheckJustificationPattern checks a justification against
// JUSTIFICATION_PATTERN; a mismatch is KindDenied, as in the original.
func (p Policy) CheckJustificationPattern(j string) error {
	if p.JustificationPattern != nil && !p.JustificationPattern.MatchString(j) {
		return Denied("jit.CheckJustificationPattern", "Justification does not meet criteria: "+p.JustificationHint)
	}
	return nil
}

// CheckDuration checks an activation duration against 1 minute and
// ACTIVATION_TIMEOUT.
func (p Policy) CheckDuration(d time.Duration) error {
	const op = "jit.CheckDuration"
	switch {
	case d <= 0:
		return Invalid(op, "The duration must be positive")
	case d < MinDuration:
		return Invalid(op, fmt.Sprintf("The activation duration must be no shorter than %d minutes", int(MinDuration/time.Minute)))
	case d > p.MaxDuration:
		return Invalid(op, fmt.Sprintf("The activation duration must be no longer than %d minutes", int(p.MaxDuration/time.Minute)))
	}
	return nil
}

// CheckRoleCount checks the number of roles in one self-approval request.
func (p Policy) CheckRoleCount(n int) error {
	const op = "jit.CheckRoleCount"
	if n > p.MaxRoles {
		return Invalid(op, fmt.Sprintf("The number of roles exceeds the allowed maximum of %d", p.MaxRoles))
	}
	if n == 0 {
		return Invalid(op, "At least one entitlement must be specified")
	}
	return nil
}

// CheckReviewerCount checks the number of reviewers selected for a request.
func (p Policy) CheckReviewerCount(n int) error {
	const op = "jit.CheckReviewerCount"
	if n < p.MinReviewers {
		return Invalid(op, fmt.Sprintf("You must select at least %d reviewers", p.MinReviewers))
	}
	if n > p.MaxReviewers {
		return Invalid(op, fmt.Sprintf("The number of reviewers exceeds the allowed maximum of %d", p.MaxReviewers))
	}
	return nil
}
