package iam

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/condition"
)

// TestCondsAnswerAsTheParser: the memo answers what the parser answers,
// the first time and every time after, for the app's bindings and others.
func TestCondsAnswerAsTheParser(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	cases := []struct{ title, expr string }{
		{condition.ActivationTitle, condition.ActivationExpression(start, start.Add(time.Hour), "")},
		{condition.ActivationTitle, condition.ActivationExpression(start, start.Add(time.Hour), `resource.name.startsWith("projects/p/zones/a")`)},
		{condition.ActivationTitle, `request.time < timestamp("2030-01-01T00:00:00Z")`},
		{condition.ActivationTitle, `((`},
		{"Admin's grant", condition.ActivationExpression(start, start.Add(time.Hour), "")},
		{condition.RecordTitle, condition.RecordExpression},
		{condition.RecordTitle, "true"},
	}
	m := newConds()
	for range 2 {
		for _, c := range cases {
			wantW, wantOK := condition.ParseActivation(c.title, c.expr)
			gotW, gotOK := m.activation(c.title, c.expr)
			if gotOK != wantOK || !cmp.Equal(gotW, wantW) {
				t.Errorf("activation(%q, %q) = %+v %v, want %+v %v", c.title, c.expr, gotW, gotOK, wantW, wantOK)
			}
			if got, want := m.isRecord(c.title, c.expr), condition.IsRecord(c.title, c.expr); got != want {
				t.Errorf("isRecord(%q, %q) = %v, want %v", c.title, c.expr, got, want)
			}
			var none *conds
			if w, ok := none.activation(c.title, c.expr); ok != wantOK || !cmp.Equal(w, wantW) {
				t.Errorf("nil memo: activation(%q, %q) = %+v %v", c.title, c.expr, w, ok)
			}
		}
	}
}
