package jit

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDescriptionCarriesTheRequestID(t *testing.T) {
	t.Parallel()
	a := Activation{ID: "mpa-AbC+/de=", Approver: "dave@example.com", Justification: "CHG-7"}
	if d := a.Description(); d != "Approved by dave@example.com, justification: CHG-7 (request mpa-AbC+/de=)" || RequestIDOf(d) != a.ID {
		t.Errorf("description %q, id %q", d, RequestIDOf(d))
	}
	// The original's description for self-approval, without an id.
	self := Activation{ID: "jit-x", Justification: "INC-1"}
	if d := self.Description(); d != "Self-approved, justification: INC-1" || RequestIDOf(d) != "" {
		t.Errorf("self-approved description %q", d)
	}
	// Too long for IAM's 256 characters: the justification is cut, the
	// id survives.
	long := Activation{ID: "mpa-" + strings.Repeat("x", 16), Approver: UserID(strings.Repeat("a", 60) + "@" + strings.Repeat("b", 60) + ".example.com"),
		Justification: strings.Repeat("j", 100), Approvers: []UserID{"alice@example.com", "carol@example.com"}}
	d := long.Description()
	if utf8.RuneCountInString(d) > MaxDescriptionLength || RequestIDOf(d) != long.ID || !strings.HasPrefix(d, "Approved by alice@example.com, carol@example.com, justification: ") {
		t.Errorf("long description (%d) %q", utf8.RuneCountInString(d), d)
	}
	for _, bad := range []string{"", "(request mpa-)", "x (request jit-abc)", "x (request mpa-a b)", "x (request mpa-abc) trailing",
		"Self-approved, justification: x (request mpa-abc)", "Approved by"} {
		if id := RequestIDOf(bad); id != "" {
			t.Errorf("RequestIDOf(%q) = %q", bad, id)
		}
	}
}

func TestCheckComment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, comment string
		required      bool
		ok            bool
	}{
		{"empty_optional", "", false, true},
		{"empty_required", "", true, false},
		{"one_line", "Checked with the on-call lead", true, true},
		{"at_the_limit", strings.Repeat("é", MaxCommentLength), false, true},
		{"too_long", strings.Repeat("x", MaxCommentLength+1), false, false},
		{"line_break", "ok\r\nBcc: x@evil.example", false, false},
		{"bidi_override", "ok \u202e", false, false},
		{"invalid_utf8", "ok \xff", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Policy{RequireApprovalComment: tc.required}.CheckComment(tc.comment)
			if (err == nil) != tc.ok || (err != nil && KindOf(err) != KindInvalid) {
				t.Errorf("CheckComment(%q) = %v, want ok %v", tc.comment, err, tc.ok)
			}
		})
	}
}
