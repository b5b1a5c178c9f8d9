package activation

import (
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Like validation_test.go: the checks that run before any adapter is
// called. Reaching an adapter (all nil here) would fail the test; the
// flows themselves are tested against the emulator in internal/app.

func newValidatingLifecycle() *Lifecycle {
	return NewLifecycle(newValidatingService(true), nil, nil, nil, nil, LifecycleOptions{})
}

func TestLifecycleValidation(t *testing.T) {
	t.Parallel()
	l := newValidatingLifecycle()
	mine := jit.GrantRef{Resource: "projects/prod-payments-db", Role: "roles/cloudsql.client", Member: "user:alice@example.com",
		Expression: `(request.time >= timestamp("2026-01-01T00:00:00Z") && request.time < timestamp("2026-01-01T01:00:00Z"))`}
	theirs := mine
	theirs.Member = "user:bob@example.com"
	folder := mine
	folder.Resource = "folders/1001"
	for _, tc := range []struct {
		name string
		call func() error
		kind jit.Kind
		msg  string
	}{
		{"end_blank", func() error { _, err := l.End(t.Context(), alice, " "); return err }, jit.KindInvalid, "An activation id is required"},
		{"end_garbage", func() error { _, err := l.End(t.Context(), alice, "g1.!!!"); return err }, jit.KindInvalid, "The activation id is not valid"},
		{"end_group_member", func() error {
			r := mine
			r.Member = "group:admins@example.com"
			_, err := l.End(t.Context(), alice, r.ID())
			return err
		}, jit.KindInvalid, "The activation id is not valid"},
		{"extend_theirs", func() error { _, err := l.Extend(t.Context(), alice, theirs.ID(), time.Hour); return err }, jit.KindDenied, "You can only extend your own activations"},
		{"extend_too_long", func() error { _, err := l.Extend(t.Context(), alice, mine.ID(), 3*time.Hour); return err }, jit.KindInvalid, "The activation duration must be no longer than 120 minutes"},
		{"extend_folder_disabled", func() error { _, err := l.Extend(t.Context(), alice, folder.ID(), time.Hour); return err }, jit.KindInvalid, "Activation on folders and organizations is not enabled"},
		{"history_bad_resource", func() error {
			_, _, err := l.History(t.Context(), alice, HistoryInput{Resource: "projects/../x"})
			return err
		}, jit.KindInvalid, `"projects/../x" is not a resource name such as projects/my-project, folders/123 or organizations/123`},
		{"history_bad_time", func() error { _, _, err := l.History(t.Context(), alice, HistoryInput{From: "yesterday"}); return err }, jit.KindInvalid, "from must be an RFC 3339 time such as 2026-01-31T12:00:00Z"},
		{"history_page_size", func() error { _, _, err := l.History(t.Context(), alice, HistoryInput{PageSize: 201}); return err }, jit.KindInvalid, "pageSize must be between 1 and 200"},
		{"history_others_without_auditors", func() error {
			_, _, err := l.History(t.Context(), alice, HistoryInput{User: "bob@example.com"})
			return err
		}, jit.KindDenied, "Only auditors can read other users' history"},
		{"list_others_without_administrators", func() error {
			_, err := l.MyAccess(t.Context(), alice, AccessQuery{All: true})
			return err
		}, jit.KindDenied, "Only administrators can list other users' activations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.call()
			if jit.KindOf(err) != tc.kind || jit.MessageOf(err) != tc.msg {
				t.Errorf("got kind %v message %q, want %v %q", jit.KindOf(err), jit.MessageOf(err), tc.kind, tc.msg)
			}
		})
	}
}

func TestScheduledStart(t *testing.T) {
	t.Parallel()
	s := newValidatingService(true)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	for _, tc := range []struct {
		name  string
		start *time.Time
		want  time.Time
		msg   string
	}{
		{"absent", nil, now, ""},
		{"slightly_behind_clock", at(-30 * time.Second), now, ""},
		{"tomorrow", at(24*time.Hour + 500*time.Millisecond), now.Add(24 * time.Hour), ""},
		{"past", at(-2 * time.Minute), time.Time{}, "The start time is in the past"},
		{"too_far", at(7*24*time.Hour + time.Second), time.Time{}, "The start time must be at most 7 days ahead"},
	} {
		got, err := s.scheduledStart("op", tc.start, now)
		if jit.MessageOf(err) != tc.msg || !got.Equal(tc.want) {
			t.Errorf("%s: got %v, %v; want %v, %q", tc.name, got, err, tc.want, tc.msg)
		}
	}
}
