package activation

import (
	"fmt"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// DefaultMaxScheduleAhead is how far ahead an activation may be scheduled
// unless configured otherwise.
const DefaultMaxScheduleAhead = 7 * 24 * time.Hour

// scheduleLeeway tolerates a client clock slightly behind ours: a start
// up to this far in the past means "now".
const scheduleLeeway = time.Minute

// scheduledStart validates a requested start time: nil means now; a time
// in the past (beyond the leeway) or further ahead than the maximum is
// refused.
func (s *Service) scheduledStart(op string, start *time.Time, now time.Time) (time.Time, error) {
	if start == nil {
		return now, nil
	}
	t := start.UTC().Truncate(time.Second)
	ahead := s.opts.MaxScheduleAhead
	if ahead <= 0 {
		ahead = DefaultMaxScheduleAhead
	}
	switch {
	case t.Before(now.Add(-scheduleLeeway)):
		return time.Time{}, jit.Invalid(op, "The start time is in the past")
	case t.After(now.Add(ahead)):
		return time.Time{}, jit.Invalid(op, fmt.Sprintf("The start time must be at most %s ahead", humanDuration(ahead)))
	case t.Before(now):
		return now, nil
	}
	return t, nil
}

func humanDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		if d == 24*time.Hour {
			return "1 day"
		}
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return fmt.Sprintf("%d minutes", d/time.Minute)
}
