package main

import (
	"io"
	"slices"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	s, err := parseFlags([]string{"jitaccess-bench", "-latency", "20ms", "-scale", "10, 100", "-tables", "ratio"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.latency != 20*time.Millisecond || !slices.Equal(s.scale, []int{10, 100}) || !s.tables["ratio"] || s.tables["scale"] {
		t.Errorf("settings = %+v", s)
	}
	for _, bad := range [][]string{
		{"-runs", "0"}, {"-runs", "1000"}, {"-duration", "2h"}, {"-conns", "0"}, {"-scale", "ten"}, {"-scale", "99999"}, {"extra"},
	} {
		if _, err := parseFlags(append([]string{"jitaccess-bench"}, bad...), io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestDescribeCalls(t *testing.T) {
	t.Parallel()
	before := map[string]int{"cloudasset.AnalyzeIamPolicy": 3, "logging.WriteLogEntries": 1}
	after := map[string]int{"cloudasset.AnalyzeIamPolicy": 4, "logging.WriteLogEntries": 1, "cloudresourcemanager.projects.getIamPolicy": 2}
	d := diff(before, after)
	if got, want := describe(d), "AnalyzeIamPolicy, projects.getIamPolicy ×2"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	if total(d) != 3 {
		t.Errorf("total = %d", total(d))
	}
}

func TestCountField(t *testing.T) {
	t.Parallel()
	if n := countField("roles")([]byte(`{"roles":[{},{}],"warnings":[]}`)); n != 2 {
		t.Errorf("count = %d", n)
	}
	if n := countField("roles")([]byte(`not json`)); n != -1 {
		t.Errorf("count of garbage = %d", n)
	}
}
