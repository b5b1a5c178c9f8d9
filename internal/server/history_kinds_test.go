package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/jit"
)

func TestHistoryEvents(t *testing.T) {
	t.Parallel()
	reads := []string{"api.getActivationRequest", "api.listActivations", "api.listEligibleRoles", "api.listPeers", "api.listProjects", "api.viewHistory"}
	for _, tt := range []struct {
		name            string
		params          []string
		events, exclude []string
	}{
		{"default_leaves_out_reads", nil, nil, reads},
		{"all", []string{"all"}, nil, nil},
		{"all_wins", []string{"read", "all"}, nil, nil},
		{"one", []string{"end"}, []string{"api.endActivation", "api.revokeActivation"}, nil},
		{"comma_and_repeat_deduplicated", []string{"decision,extension", "decision"}, []string{"api.approveRequest", "api.rejectRequest", "api.extendActivation"}, nil},
		{"empty_values_ignored", []string{"", " , "}, nil, reads},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, exclude, err := historyEvents(tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.events, events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.exclude, exclude); diff != "" {
				t.Errorf("exclude (-want +got):\n%s", diff)
			}
		})
	}
	if _, _, err := historyEvents([]string{"activation", "Reads"}); jit.KindOf(err) != jit.KindInvalid {
		t.Errorf("an unknown kind: %v", err)
	}
}

func TestHistoryTitle(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		entry  jit.HistoryEntry
		failed bool
		want   string
	}{
		{jit.HistoryEntry{Event: "api.activateRole"}, false, "Activated"},
		{jit.HistoryEntry{Event: "api.activateRole", Approver: "dave@example.com"}, false, "Approved"},
		{jit.HistoryEntry{Event: "api.activateRole"}, true, "Activation failed"},
		{jit.HistoryEntry{Event: "api.listActivations"}, false, "Listed access"},
		{jit.HistoryEntry{Event: "api.withdrawRequest"}, false, "Withdrew a request"},
		{jit.HistoryEntry{Event: "api.withdrawRequest"}, true, "Withdrawal failed"},
		{jit.HistoryEntry{Event: "api.scanRogueGrant"}, false, "Scan rogue grant"},
		{jit.HistoryEntry{Event: "api.scanRogueGrant"}, true, "Scan rogue grant failed"},
		{jit.HistoryEntry{Event: "api."}, false, "Event"},
	} {
		if got := historyTitle(tt.entry, tt.failed); got != tt.want {
			t.Errorf("historyTitle(%s, %v) = %q, want %q", tt.entry.Event, tt.failed, got, tt.want)
		}
	}
}
