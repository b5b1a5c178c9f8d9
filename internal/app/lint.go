package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"text/tabwriter"

	asset "cloud.google.com/go/asset/apiv1"
	"google.golang.org/api/googleapi"
	iam "google.golang.org/api/iam/v1"

	"github.com/jitaccess/jitaccess/internal/catalog"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/escalation"
)

// LintRole is one eligible binding in the lint's report (`--json`).
type LintRole struct {
	Resource          string               `json:"resource"`
	Role              string               `json:"role"`
	Custom            bool                 `json:"custom"`
	Members           []string             `json:"members"`
	ActivationType    string               `json:"activationType"`
	ResourceCondition string               `json:"resourceCondition,omitempty"`
	Findings          []escalation.Finding `json:"findings"`
	// Unreadable says why the role's permissions could not be read (the
	// role does not exist, e.g. a deleted custom role); "" when they were.
	Unreadable string `json:"unreadable,omitempty"`
}

// LintReport is what `jitaccess lint` finds.
type LintReport struct {
	Scope string     `json:"scope"`
	Roles []LintRole `json:"roles"`
}

// Problems counts what should fail a CI step: every finding, and every
// role whose permissions could not be read (the lint cannot vouch for
// it).
func (r LintReport) Problems() int {
	n := 0
	for _, l := range r.Roles {
		n += len(l.Findings)
		if l.Unreadable != "" {
			n++
		}
	}
	return n
}

// Lint checks every eligible binding in RESOURCE_SCOPE (`jitaccess lint`):
// it finds them through Cloud Asset, as compat-report does, reads each
// role's permissions through the IAM API (roles.get, once per role; it
// needs iam.roles.get on the organization or project of custom roles),
// and matches them against the escalation catalogue
// (internal/escalation/catalogue.json).
func Lint(ctx context.Context, cfg *config.Config, env Environment) (LintReport, error) {
	cat, err := escalation.Default()
	if err != nil {
		return LintReport{}, err
	}
	client, err := asset.NewClient(ctx, env.Asset...)
	if err != nil {
		return LintReport{}, fmt.Errorf("cloud asset client: %w", err)
	}
	defer func() { _ = client.Close() }() // read-only
	roles, err := iam.NewService(ctx, env.IAM...)
	if err != nil {
		return LintReport{}, fmt.Errorf("iam client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*cfg.BackendReadTimeout)
	defer cancel()
	bindings, err := catalog.EligibleBindings(ctx, client, cfg.Scope.String())
	if err != nil {
		return LintReport{}, err
	}
	type definition struct {
		perms      []string
		unreadable string
	}
	defs := map[string]definition{}
	report := LintReport{Scope: cfg.Scope.String(), Roles: []LintRole{}}
	for _, b := range bindings {
		def, ok := defs[b.Role]
		switch {
		case ok:
		case !lintableRole.MatchString(b.Role):
			// The name goes into the request's path: a name of another
			// shape is reported, never sent.
			def.unreadable = "not a role name the IAM API serves (roles/ID, projects/P/roles/ID, organizations/O/roles/ID)"
		default:
			perms, err := rolePermissions(ctx, roles, b.Role)
			var gerr *googleapi.Error
			switch {
			case errors.As(err, &gerr) && (gerr.Code == http.StatusNotFound || gerr.Code == http.StatusBadRequest):
				def.unreadable = "the IAM API does not know the role (" + oneLine(gerr.Message) + "); it may have been deleted"
			case err != nil:
				return LintReport{}, fmt.Errorf("reading the permissions of %s through the IAM API (roles.get needs iam.roles.get for custom roles): %w", b.Role, err)
			default:
				def.perms = perms
			}
		}
		defs[b.Role] = def
		r := escalation.Role{Name: b.Role, Permissions: def.perms}
		report.Roles = append(report.Roles, LintRole{
			Resource: b.Resource, Role: b.Role, Custom: r.Custom(), Members: b.Members,
			ActivationType: string(b.Type), ResourceCondition: b.ResourceCondition,
			Findings: nonNil(cat.Check(r)), Unreadable: def.unreadable,
		})
	}
	return report, nil
}

func nonNil(f []escalation.Finding) []escalation.Finding {
	if f == nil {
		return []escalation.Finding{}
	}
	return f
}

// lintableRole is the shape of the role names roles.get accepts.
var lintableRole = regexp.MustCompile(`^(roles|projects/[a-z][a-z0-9.:-]{1,62}/roles|organizations/[0-9]{1,20}/roles)/[a-zA-Z0-9_][a-zA-Z0-9_.]{0,63}$`)

// rolePermissions calls the roles.get of the role's name form.
func rolePermissions(ctx context.Context, s *iam.Service, name string) ([]string, error) {
	var (
		r   *iam.Role
		err error
	)
	switch {
	case strings.HasPrefix(name, "projects/"):
		r, err = s.Projects.Roles.Get(name).Context(ctx).Do()
	case strings.HasPrefix(name, "organizations/"):
		r, err = s.Organizations.Roles.Get(name).Context(ctx).Do()
	default:
		r, err = s.Roles.Get(name).Context(ctx).Do()
	}
	if err != nil {
		return nil, err
	}
	return r.IncludedPermissions, nil
}

// WriteLintTable writes the report for people: one line per eligible
// binding, then one per finding with its reason and advice.
func WriteLintTable(w io.Writer, r LintReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "# Eligible bindings in %s: %d\n", r.Scope, len(r.Roles))
	if len(r.Roles) > 0 {
		_, _ = fmt.Fprintln(tw, "RESOURCE\tROLE\tTYPE\tMEMBERS\tFINDINGS")
	}
	for _, l := range r.Roles {
		n := fmt.Sprint(len(l.Findings))
		if l.Unreadable != "" {
			n = "unreadable: " + l.Unreadable
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.Resource, l.Role, l.ActivationType, strings.Join(l.Members, ","), n)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	// One block per finding: reasons and advice are sentences, too long
	// for a column.
	_, _ = fmt.Fprintf(w, "\n# Permissions that let access outlive the activation window: %d\n", r.Problems())
	for _, l := range r.Roles {
		for _, f := range l.Findings {
			_, _ = fmt.Fprintf(w, "\n%s on %s\n  permission: %s (catalogue entry %s)\n  why:        %s\n  what to do: %s\n", l.Role, l.Resource, f.Permission, f.Entry, f.Reason, f.Advice)
		}
	}
	_, err := fmt.Fprintln(w)
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// WriteLintJSON writes the report as one JSON document.
func WriteLintJSON(w io.Writer, r LintReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}
