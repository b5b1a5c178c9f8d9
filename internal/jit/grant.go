package jit

import (
	"encoding/base64"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// GrantStatus is where a grant's window stands relative to now.
type GrantStatus string

// Grant statuses, as the API names them.
const (
	GrantActive    GrantStatus = "ACTIVE"
	GrantScheduled GrantStatus = "SCHEDULED"
	GrantExpired   GrantStatus = "EXPIRED"
)

// Grant is an activation binding as found in an IAM policy: the live
// state of an activation, read back rather than remembered. Its identity
// is the binding itself (resource, role, member, condition expression),
// so that no id needs to be stored anywhere.
type Grant struct {
	Resource          string // "projects/P", "folders/F" or "organizations/O"
	Role              string
	Member            string // the binding's single member, e.g. "user:alice@example.com"
	Beneficiary       UserID
	ResourceCondition string // canonical CEL, empty when none
	Expression        string // the binding's condition expression, exactly as in the policy
	Start, End        time.Time
	// Approver is who approved it, from the description "Approved by X,
	// justification: …"; empty for self-approved grants and for
	// descriptions the app did not write. Approvers lists every approver
	// when the role needed several ("Approved by X, Y, justification: …").
	Approver      UserID
	Approvers     []UserID
	Justification string
}

// Status of the grant at now.
func (g Grant) Status(now time.Time) GrantStatus {
	switch {
	case !now.Before(g.End):
		return GrantExpired
	case now.Before(g.Start):
		return GrantScheduled
	}
	return GrantActive
}

// Remaining is how long the grant still lasts at now (0 once expired).
func (g Grant) Remaining(now time.Time) time.Duration {
	from := now
	if g.Start.After(now) {
		from = g.Start
	}
	return max(0, g.End.Sub(from))
}

// GrantRef identifies one activation binding: what a Grant's ID encodes.
type GrantRef struct {
	Resource, Role, Member, Expression string
}

// Ref returns the grant's identity.
func (g Grant) Ref() GrantRef {
	return GrantRef{Resource: g.Resource, Role: g.Role, Member: g.Member, Expression: g.Expression}
}

// ID returns the grant's opaque, stateless id: the binding's identity,
// encoded. It changes when the binding changes (an extension has a new id).
func (g Grant) ID() string { return g.Ref().ID() }

// ID encodes the reference; ParseGrantID reverses it.
func (r GrantRef) ID() string {
	return grantIDPrefix + base64.RawURLEncoding.EncodeToString([]byte(
		r.Resource+"\n"+r.Role+"\n"+r.Member+"\n"+r.Expression))
}

const (
	grantIDPrefix  = "g1."
	maxGrantIDLen  = 20000 // an expression is at most 12,800 characters
	msgBadGrantID  = "The activation id is not valid"
	maxMemberEmail = 254
)

var (
	resourcePattern = regexp.MustCompile(`^(?:projects/[a-z][a-z0-9-]{4,28}[a-z0-9]|folders/[0-9]{1,20}|organizations/[0-9]{1,20})$`)
	memberPattern   = regexp.MustCompile(`^(?:user|serviceAccount):[^\s:]+$`)
)

// ValidResource reports whether s is "projects/ID", "folders/N" or
// "organizations/N".
func ValidResource(s string) bool { return resourcePattern.MatchString(s) }

// ParseGrantID decodes an id from a client. It checks the shape of every
// part; whether such a binding exists is for the caller to find out.
func ParseGrantID(id string) (GrantRef, error) {
	const op = "jit.ParseGrantID"
	if strings.TrimSpace(id) == "" {
		return GrantRef{}, Invalid(op, "An activation id is required")
	}
	rest, ok := strings.CutPrefix(id, grantIDPrefix)
	if !ok || len(id) > maxGrantIDLen {
		return GrantRef{}, Invalid(op, msgBadGrantID)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || !utf8.Valid(b) {
		return GrantRef{}, Invalid(op, msgBadGrantID)
	}
	parts := strings.SplitN(string(b), "\n", 4)
	if len(parts) != 4 {
		return GrantRef{}, Invalid(op, msgBadGrantID)
	}
	r := GrantRef{Resource: parts[0], Role: parts[1], Member: parts[2], Expression: parts[3]}
	if !ValidResource(r.Resource) || !ValidRole(r.Role) || !memberPattern.MatchString(r.Member) ||
		len(r.Member) > maxMemberEmail+len("serviceAccount:") || strings.TrimSpace(r.Expression) == "" {
		return GrantRef{}, Invalid(op, msgBadGrantID)
	}
	return r, nil
}

// ParseDescription reads the description the app writes on an activation
// binding: "Self-approved, justification: J" or "Approved by X[, Y…],
// justification: J", with " (request mpa-…)" at the end of an approved
// request's. ok is false for any other text (the binding may still be
// ours; only the approval details are unknown).
func ParseDescription(d string) (approvers []UserID, justification string, ok bool) {
	if id := RequestIDOf(d); id != "" {
		d = strings.TrimSuffix(d, requestSuffix+id+")")
	}
	if j, found := strings.CutPrefix(d, "Self-approved, justification: "); found {
		return nil, j, true
	}
	rest, found := strings.CutPrefix(d, "Approved by ")
	if !found {
		return nil, "", false
	}
	who, j, found := strings.Cut(rest, ", justification: ")
	if !found {
		return nil, "", false
	}
	for _, w := range strings.Split(who, ", ") {
		u, err := ParseUserID(w)
		if err != nil {
			return nil, "", false
		}
		approvers = append(approvers, u)
	}
	return approvers, j, true
}

// UserOfMember returns the user of "user:EMAIL" or "serviceAccount:EMAIL".
func UserOfMember(m string) (UserID, bool) {
	_, email, ok := strings.Cut(m, ":")
	if !ok {
		return "", false
	}
	switch strings.ToLower(m[:strings.IndexByte(m, ':')]) {
	case "user", "serviceaccount":
	default:
		return "", false
	}
	u, err := ParseUserID(email)
	return u, err == nil
}
