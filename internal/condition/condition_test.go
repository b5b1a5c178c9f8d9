package condition

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/jit"
)

func TestParseEligibility(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		expr string
		want Eligibility
		ok   bool
	}{
		{"jit", `has({}.jitAccessConstraint)`, Eligibility{Type: jit.JIT}, true},
		{"mpa", `has({}.multiPartyApprovalConstraint)`, Eligibility{Type: jit.MPA}, true},
		{"case_and_space", "  HAS( { } . JitAccessCONSTRAINT )  ", Eligibility{Type: jit.JIT}, true},
		{"newlines", "has({}.\n  multiPartyApprovalConstraint\n)", Eligibility{Type: jit.MPA}, true},
		{"comment_lines", "// eligible for on-call\nhas({}.jitAccessConstraint)\n// end", Eligibility{Type: jit.JIT}, true},
		{"with_resource_condition", `has({}.multiPartyApprovalConstraint) && resource.name.startsWith("projects/p/zones/a/instances/")`,
			Eligibility{Type: jit.MPA, ResourceCondition: `resource.name.startsWith("projects/p/zones/a/instances/")`}, true},
		{"marker_last", `resource.type == "compute.googleapis.com/Disk" && has({}.jitAccessConstraint)`,
			Eligibility{Type: jit.JIT, ResourceCondition: `resource.type == "compute.googleapis.com/Disk"`}, true},
		{"marker_middle_two_clauses", `resource.type == "a" &&   has({}.jitAccessConstraint) && (resource.name == "b")`,
			Eligibility{Type: jit.JIT, ResourceCondition: `resource.type == "a" && resource.name == "b"`}, true},
		{"nested_parenthesised_and", `(has({}.jitAccessConstraint) && resource.type == "a")`,
			Eligibility{Type: jit.JIT, ResourceCondition: `resource.type == "a"`}, true},
		{"resource_condition_with_or", `has({}.jitAccessConstraint) && (resource.type == "a" || resource.type == "b")`,
			Eligibility{Type: jit.JIT, ResourceCondition: `resource.type == "a" || resource.type == "b"`}, true},
		{"both_markers_jit_wins", `has({}.multiPartyApprovalConstraint) && has({}.jitAccessConstraint)`, Eligibility{Type: jit.JIT}, true},
		{"marker_under_or", `has({}.jitAccessConstraint) || resource.type == "a"`, Eligibility{}, false},
		{"negated_marker", `!has({}.jitAccessConstraint)`, Eligibility{}, false},
		{"marker_on_non_empty_map", `has({"a": 1}.jitAccessConstraint)`, Eligibility{}, false},
		{"other_field", `has({}.somethingElse)`, Eligibility{}, false},
		{"plain_condition", `request.time < timestamp("2030-01-01T00:00:00Z")`, Eligibility{}, false},
		{"blank", "   ", Eligibility{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok, err := ParseEligibility(tc.expr)
			if err != nil {
				t.Fatalf("ParseEligibility(%q): %v", tc.expr, err)
			}
			if ok != tc.ok || got != tc.want {
				t.Errorf("ParseEligibility(%q) = %+v, %v; want %+v, %v", tc.expr, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseEligibilityRejectsMalformedCEL(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		`has({}.jitAccessConstraint) &&`, `has({}.jitAccessConstraint`, `"unterminated has({}.multiPartyApprovalConstraint)`,
		strings.Repeat("(", 200) + "has({}.jitAccessConstraint)" + strings.Repeat(")", 200), "a" + strings.Repeat(" ", MaxExpressionLength),
	} {
		if _, _, err := ParseEligibility(expr); err == nil {
			t.Errorf("ParseEligibility(%.40q) succeeded, want an error", expr)
		}
	}
	// Text that names no marker is not eligible, whether or not it is CEL:
	// it is not parsed at all.
	for _, expr := range []string{`has(`, `"unterminated`, strings.Repeat("(", 200) + "true" + strings.Repeat(")", 200)} {
		if _, ok, err := ParseEligibility(expr); ok || err != nil {
			t.Errorf("ParseEligibility(%.40q) = %v, %v; want not eligible, no error", expr, ok, err)
		}
	}
}

var (
	start = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	end   = start.Add(time.Hour)
)

func TestActivationExpressionIsTheOriginals(t *testing.T) {
	t.Parallel()
	if got, want := ActivationExpression(start, end, ""), `(request.time >= timestamp("2040-01-01T00:00:00Z") && request.time < timestamp("2040-01-01T01:00:00Z"))`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got := ActivationExpression(start.Add(500*time.Millisecond), end, `resource.name == "x"`)
	want := `((request.time >= timestamp("2040-01-01T00:00:00Z") && request.time < timestamp("2040-01-01T01:00:00Z"))) && (resource.name == "x")`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestParseActivation(t *testing.T) {
	t.Parallel()
	rc := `resource.name.startsWith("projects/p/zones/a/instances/")`
	for _, tc := range []struct {
		name, title, expr string
		want              Window
		ok                bool
	}{
		{"round_trip", ActivationTitle, ActivationExpression(start, end, ""), Window{Start: start, End: end}, true},
		{"round_trip_resource_condition", ActivationTitle, ActivationExpression(start, end, rc), Window{Start: start, End: end, ResourceCondition: rc}, true},
		{"original_spacing_tolerance", ActivationTitle, `((( request.time >= timestamp("2040-01-01T00:00:00Z")&&request.time < timestamp("2040-01-01T01:00:00Z") )))`, Window{Start: start, End: end}, true},
		{"clauses_reversed", ActivationTitle, `request.time < timestamp("2040-01-01T01:00:00Z") && request.time >= timestamp("2040-01-01T00:00:00Z")`, Window{Start: start, End: end}, true},
		{"wrong_title", "Temporary access", ActivationExpression(start, end, ""), Window{}, false},
		{"only_end", ActivationTitle, `request.time < timestamp("2040-01-01T01:00:00Z")`, Window{}, false},
		{"or", ActivationTitle, `request.time >= timestamp("2040-01-01T00:00:00Z") || request.time < timestamp("2040-01-01T01:00:00Z")`, Window{}, false},
		{"two_starts", ActivationTitle, `request.time >= timestamp("2040-01-01T00:00:00Z") && request.time >= timestamp("2041-01-01T00:00:00Z") && request.time < timestamp("2042-01-01T00:00:00Z")`, Window{}, false},
		{"end_before_start", ActivationTitle, ActivationExpression(end, start, ""), Window{}, false},
		{"bad_timestamp", ActivationTitle, `request.time >= timestamp("yesterday") && request.time < timestamp("2040-01-01T01:00:00Z")`, Window{}, false},
		{"extra_time_clause", ActivationTitle, ActivationExpression(start, end, `request.time.getHours("UTC") < 9`), Window{}, false},
		{"marker_smuggled", ActivationTitle, ActivationExpression(start, end, `has({}.jitAccessConstraint)`), Window{}, false},
		{"malformed", ActivationTitle, `request.time >=`, Window{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseActivation(tc.title, tc.expr)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%s)", ok, tc.ok, tc.expr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	w := Window{Start: start, End: end}
	for _, tc := range []struct {
		at              time.Time
		active, expired bool
	}{
		{start.Add(-time.Second), false, false},
		{start, true, false},
		{end.Add(-time.Second), true, false},
		{end, false, true},
	} {
		if w.Active(tc.at) != tc.active || w.Expired(tc.at) != tc.expired {
			t.Errorf("at %v: active %v expired %v", tc.at, w.Active(tc.at), w.Expired(tc.at))
		}
	}
}

func TestValidateResourceCondition(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{`resource.name.startsWith("projects/_/buckets/x")`, true},
		{`resource.type == "a" && resource.name == "b"`, true},
		{`request.time < timestamp("2099-01-01T00:00:00Z")`, false},
		{`resource.name == "a" || request.time > timestamp("2000-01-01T00:00:00Z")`, false},
		{`has({}.jitAccessConstraint)`, false},
		{`true || has({}.multiPartyApprovalConstraint)`, false},
		{`resource.name ==`, false},
	} {
		if err := ValidateResourceCondition(tc.expr); (err == nil) != tc.ok {
			t.Errorf("ValidateResourceCondition(%q) = %v, want ok=%v", tc.expr, err, tc.ok)
		}
	}
}

func FuzzParseEligibility(f *testing.F) {
	for _, s := range []string{`has({}.jitAccessConstraint)`, `has({}.multiPartyApprovalConstraint) && resource.name == "x"`, `//c\nhas({}.JITACCESSCONSTRAINT)`, `a || b`, `((`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		el, ok, err := ParseEligibility(expr)
		if err != nil || !ok || el.ResourceCondition == "" {
			return
		}
		// A resource condition we extracted parses again, to itself.
		again, ok2, err := ParseEligibility("has({}.jitAccessConstraint) && (" + el.ResourceCondition + ")")
		if err != nil || !ok2 || again.ResourceCondition != el.ResourceCondition {
			t.Errorf("resource condition %q did not round-trip: %q %v %v", el.ResourceCondition, again.ResourceCondition, ok2, err)
		}
	})
}

func FuzzParseActivation(f *testing.F) {
	f.Add(ActivationTitle, ActivationExpression(start, end, ""), int64(0), int64(3600), `resource.name == "x"`)
	f.Add(ActivationTitle, `request.time >= timestamp("x")`, int64(-5), int64(5), "")
	f.Fuzz(func(t *testing.T, title, expr string, from, length int64, rc string) {
		_, _ = ParseActivation(title, expr)
		// Round trip: whatever window we write, we read back.
		s := time.Unix(from%4102444800, 0).UTC()
		if s.Before(time.Unix(0, 0)) || length <= 0 {
			return
		}
		e := s.Add(time.Duration(length%86400+1) * time.Second)
		if ValidateResourceCondition(rc) != nil {
			rc = ""
		} else if el, ok, err := ParseEligibility("has({}.jitAccessConstraint) && (" + rc + ")"); err == nil && ok {
			rc = el.ResourceCondition
		} else {
			rc = ""
		}
		w, ok := ParseActivation(ActivationTitle, ActivationExpression(s, e, rc))
		if !ok || !w.Start.Equal(s) || !w.End.Equal(e) || w.ResourceCondition != rc {
			t.Errorf("round trip of [%v, %v) %q gave %+v %v", s, e, rc, w, ok)
		}
	})
}

func BenchmarkParseEligibility(b *testing.B) {
	expr := `has({}.multiPartyApprovalConstraint) && resource.name.startsWith("projects/p/zones/a/instances/")`
	for b.Loop() {
		if _, ok, err := ParseEligibility(expr); err != nil || !ok {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseActivation(b *testing.B) {
	expr := ActivationExpression(start, end, `resource.name == "x"`)
	for b.Loop() {
		if _, ok := ParseActivation(ActivationTitle, expr); !ok {
			b.Fatal("not recognised")
		}
	}
}

// TestEligibilityThatReadsRequestTimeIsRefused: the activation of such a
// binding would carry two request.time clauses ending the window, which
// ParseActivation (rightly) cannot tell apart, so it is refused at
// discovery, with its activation type kept for the message.
func TestEligibilityThatReadsRequestTimeIsRefused(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		`has({}.jitAccessConstraint) && request.time < timestamp("2030-01-01T00:00:00Z")`,
		`has({}.multiPartyApprovalConstraint) && (resource.name.startsWith("x") || request.time.getHours("UTC") < 9)`,
	} {
		el, ok, err := ParseEligibility(expr)
		if ok || !errors.Is(err, ErrTimeBoundEligibility) || el.Type == "" {
			t.Errorf("ParseEligibility(%q) = %+v, %v, %v; want ErrTimeBoundEligibility", expr, el, ok, err)
		}
	}
	// What such an activation would look like is not recognised as ours.
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	expr := ActivationExpression(start, start.Add(time.Hour), `request.time < timestamp("2030-01-01T00:00:00Z")`)
	if _, ok := ParseActivation(ActivationTitle, expr); ok {
		t.Errorf("ParseActivation accepted %q", expr)
	}
}
