package config

import (
	"strings"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// approvalVariables are the settings of approval policies beyond the
// original's (docs/approval-policy.md).
var approvalVariables = []string{"ACTIVATION_REQUEST_APPROVALS", "ACTIVATION_APPROVAL_COMMENT"}

// loadApprovals reads ACTIVATION_REQUEST_APPROVALS: how many distinct
// approvals a request needs where its role declares no quorum (approver
// bindings can declare their own). Unset means one, the original's rule.
func (c *Config) loadApprovals(r *reader) {
	c.Approvals = r.integer(0, 1, jit.MaxQuorum, "ACTIVATION_REQUEST_APPROVALS")
	if c.Approvals > c.MaxReviewers {
		v, _ := r.value("ACTIVATION_REQUEST_APPROVALS")
		r.fail("ACTIVATION_REQUEST_APPROVALS", v, "must not exceed ACTIVATION_REQUEST_MAX_REVIEWERS (%d): a request needs a reviewer per approval", c.MaxReviewers)
	}
	c.loadApprovalComment(r)
}

// loadApprovalComment reads ACTIVATION_APPROVAL_COMMENT: whether an
// approval must carry a comment (required) or may (optional, the default:
// 1.8.1's approvals had none, and its UI sends none).
func (c *Config) loadApprovalComment(r *reader) {
	v, ok := r.value("ACTIVATION_APPROVAL_COMMENT")
	if !ok {
		return
	}
	switch strings.ToLower(v) {
	case "optional":
		c.ApprovalCommentRequired = false
	case "required":
		c.ApprovalCommentRequired = true
	default:
		r.fail("ACTIVATION_APPROVAL_COMMENT", v, "must be optional (an approver may add a comment, the default) or required (every approval needs one)")
	}
}

// DefaultQuorum is the number of approvals a request needs where its role
// declares none: ACTIVATION_REQUEST_APPROVALS, or 1.
func (c *Config) DefaultQuorum() int { return max(c.Approvals, 1) }
