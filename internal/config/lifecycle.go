package config

import (
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Lifecycle holds the settings of the access lifecycle features: who may
// end others' activations and read everyone's history, how far ahead an
// activation may be scheduled, and whether folders and organizations can
// be activated at their own level.
type Lifecycle struct {
	AdministratorGroup string        // ADMINISTRATOR_GROUP, a group email; empty: nobody
	AuditorGroup       string        // AUDITOR_GROUP, a group email; empty: nobody
	MaxStartDelay      time.Duration // ACTIVATION_MAX_START_DELAY, minutes, default 7 days
	FoldersAndOrgs     bool          // ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS, default false
}

// lifecycleVariables are the variables loadLifecycle reads.
var lifecycleVariables = []string{
	"ADMINISTRATOR_GROUP", "AUDITOR_GROUP", "ACTIVATION_MAX_START_DELAY", "ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS",
}

// DefaultMaxStartDelay is ACTIVATION_MAX_START_DELAY's default.
const DefaultMaxStartDelay = 7 * 24 * time.Hour

// maxStartDelayMinutes is a year: beyond it a scheduled start is more
// likely a typo than a plan.
const maxStartDelayMinutes = 366 * 24 * 60

func (c *Config) loadLifecycle(r *reader) {
	l := &c.Lifecycle
	l.AdministratorGroup = groupEmail(r, "ADMINISTRATOR_GROUP")
	l.AuditorGroup = groupEmail(r, "AUDITOR_GROUP")
	l.MaxStartDelay = r.duration(DefaultMaxStartDelay, time.Minute, "minutes", 1, maxStartDelayMinutes, "ACTIVATION_MAX_START_DELAY")
	l.FoldersAndOrgs = r.boolean(false, "ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS")
}

func groupEmail(r *reader, name string) string {
	v, ok := r.value(name)
	if !ok {
		return ""
	}
	v = strings.TrimPrefix(v, "group:")
	u, err := jit.ParseUserID(v)
	if err != nil {
		r.fail(name, v, "must be the email address of a Google group, such as jit-admins@example.com")
		return ""
	}
	return string(u)
}
