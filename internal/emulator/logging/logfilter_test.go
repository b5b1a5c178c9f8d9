package logging

import (
	"testing"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/genproto/googleapis/api/monitoredres"
)

// TestLogFilterNot: NOT before a comparison or a parenthesised group
// negates it, as in Cloud Logging's query language; the rest of the
// filter still applies.
func TestLogFilterNot(t *testing.T) {
	t.Parallel()
	entry := func(event string) *loggingpb.LogEntry {
		return &loggingpb.LogEntry{LogName: "projects/p/logs/a", Labels: map[string]string{"event": event}, Resource: &monitoredres.MonitoredResource{Type: "global"}}
	}
	for _, tt := range []struct {
		filter string
		match  map[string]bool
	}{
		{`logName = "projects/p/logs/a" AND NOT (labels.event = "api.listProjects" OR labels.event = "api.viewHistory")`,
			map[string]bool{"api.activateRole": true, "api.listProjects": false, "api.viewHistory": false}},
		{`NOT labels.event = "api.listProjects"`, map[string]bool{"api.activateRole": true, "api.listProjects": false}},
		{`labels.event:"api." NOT labels.event = "api.viewHistory"`, map[string]bool{"api.activateRole": true, "api.viewHistory": false}},
	} {
		match, err := parseLogFilter(tt.filter)
		if err != nil {
			t.Fatalf("%s: %v", tt.filter, err)
		}
		for event, want := range tt.match {
			if got := match(entry(event)); got != want {
				t.Errorf("%s matches %s = %v, want %v", tt.filter, event, got, want)
			}
		}
	}
	if _, err := parseLogFilter(`NOT`); err == nil {
		t.Error("a bare NOT was accepted")
	}
}
