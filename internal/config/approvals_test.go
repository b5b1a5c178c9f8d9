package config

import (
	"strings"
	"testing"
)

func TestActivationRequestApprovals(t *testing.T) {
	t.Parallel()
	base := map[string]string{"GOOGLE_CLOUD_PROJECT": "my-project"}
	load := func(extra map[string]string) (*Config, error) {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	}
	c, err := load(nil)
	if err != nil || c.Approvals != 0 || c.DefaultQuorum() != 1 {
		t.Fatalf("unset: %+v %v", c, err)
	}
	c, err = load(map[string]string{"ACTIVATION_REQUEST_APPROVALS": "2"})
	if err != nil || c.DefaultQuorum() != 2 {
		t.Fatalf("2: %v %v", c.DefaultQuorum(), err)
	}
	for v, want := range map[string]string{
		"0":  "must be a whole number from 1 to 10",
		"11": "must be a whole number from 1 to 10",
		"x":  "must be a whole number from 1 to 10",
	} {
		if _, err := load(map[string]string{"ACTIVATION_REQUEST_APPROVALS": v}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", v, err)
		}
	}
	if _, err := load(map[string]string{"ACTIVATION_REQUEST_APPROVALS": "3", "ACTIVATION_REQUEST_MAX_REVIEWERS": "2"}); err == nil ||
		!strings.Contains(err.Error(), "must not exceed ACTIVATION_REQUEST_MAX_REVIEWERS (2)") {
		t.Errorf("3 of at most 2 reviewers: %v", err)
	}
}

func TestActivationApprovalComment(t *testing.T) {
	t.Parallel()
	load := func(v string) (*Config, error) {
		env := map[string]string{"GOOGLE_CLOUD_PROJECT": "my-project"}
		if v != "" {
			env["ACTIVATION_APPROVAL_COMMENT"] = v
		}
		return Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	}
	for v, want := range map[string]bool{"": false, "optional": false, "required": true, "Required": true} {
		c, err := load(v)
		if err != nil || c.ApprovalCommentRequired != want || c.Policy().RequireApprovalComment != want {
			t.Errorf("%q: required = %v, %v; want %v", v, c.ApprovalCommentRequired, err, want)
		}
	}
	for _, v := range []string{"yes", "true", "mandatory"} {
		_, err := load(v)
		if err == nil || !strings.Contains(err.Error(), "ACTIVATION_APPROVAL_COMMENT") ||
			!strings.Contains(err.Error(), "must be optional (an approver may add a comment, the default) or required (every approval needs one)") {
			t.Errorf("%q: %v", v, err)
		}
	}
}
