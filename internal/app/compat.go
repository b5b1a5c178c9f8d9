package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	asset "cloud.google.com/go/asset/apiv1"
	"google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/catalog"
	"github.com/jitaccess/jitaccess/internal/config"
)

// CompatReport writes to w what an administrator should review in
// RESOURCE_SCOPE's IAM policies (`jitaccess compat-report`): first the
// bindings that are eligible under jitaccess but were not under
// Just-In-Time Access 1.8.1 with the same RESOURCE_CATALOG, so that they
// can be reviewed before switching; then the approver bindings that have
// no effect, or not the intended one (docs/approval-policy.md). Both come
// from one kind of scan (SearchAllIamPolicies), need the same permission,
// and matter at the same moments — before the switch and after every
// change to the policies — so they are one command. It returns how many
// bindings the report lists, both sections together.
func CompatReport(ctx context.Context, cfg *config.Config, env Environment, w io.Writer) (int, error) {
	client, err := asset.NewClient(ctx, env.Asset...)
	if err != nil {
		return 0, fmt.Errorf("cloud asset client: %w", err)
	}
	defer func() { _ = client.Close() }() // read-only
	ctx, cancel := context.WithTimeout(ctx, 10*cfg.BackendReadTimeout)
	defer cancel()
	found, err := catalog.CompatReport(ctx, client, cfg.Scope.String(), cfg.Catalog == config.CatalogPolicyAnalyzer)
	if err != nil {
		return 0, err
	}
	reporter, err := approverReporter(ctx, cfg, env, client)
	if err != nil {
		return 0, err
	}
	issues, err := reporter.ApproverReport(ctx, cfg.DefaultQuorum())
	if err != nil {
		return 0, err
	}
	// tabwriter keeps the first write error and Flush returns it.
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "# Bindings in %s eligible under jitaccess (%s catalog) but not under Just-In-Time Access 1.8.1: %d\n", cfg.Scope, cfg.Catalog, len(found))
	if len(found) > 0 {
		_, _ = fmt.Fprintln(tw, "RESOURCE\tROLE\tMEMBERS\tCONDITION\tWHY")
	}
	for _, b := range found {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Resource, b.Role, strings.Join(b.Members, ","), oneLine(b.Condition), b.Reason)
	}
	if err := tw.Flush(); err != nil {
		return 0, fmt.Errorf("writing the report: %w", err)
	}
	// A table of its own: its columns would stretch the first one's.
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "\n# Approver bindings in %s without the intended effect (%s catalog): %d\n", cfg.Scope, cfg.Catalog, len(issues))
	if len(issues) > 0 {
		_, _ = fmt.Fprintln(tw, "RESOURCE\tROLE\tMEMBERS\tCONDITION\tPROBLEM\tWHAT TO FIX")
	}
	for _, i := range issues {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", i.Resource, i.Role, strings.Join(i.Members, ","), oneLine(i.Condition), i.Problem, i.Fix)
	}
	if err := tw.Flush(); err != nil {
		return 0, fmt.Errorf("writing the report: %w", err)
	}
	return len(found) + len(issues), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// approvalReporter is the configured catalog, which expands the approver
// bindings' groups the way the app does.
type approvalReporter interface {
	ApproverReport(ctx context.Context, defaultQuorum int) ([]catalog.ApproverIssue, error)
}

// approverReporter builds the catalog RESOURCE_CATALOG names, caching
// nothing. GROUP_MEMBERSHIP=direct reads groups as SERVICE_ACCOUNT
// (impersonated, as the app does); without it the report cannot count
// group members and says so in the lines concerned.
func approverReporter(ctx context.Context, cfg *config.Config, env Environment, client *asset.Client) (approvalReporter, error) {
	crm, err := cloudresourcemanager.NewService(ctx, env.ResourceManager...)
	if err != nil {
		return nil, fmt.Errorf("resource manager client: %w", err)
	}
	opts := catalog.Options{Scope: cfg.Scope.String(), ReadTimeout: cfg.BackendReadTimeout, Clock: env.Clock}
	if cfg.Catalog != config.CatalogAssetInventory {
		return catalog.NewPolicyAnalyzer(client, crm, opts), nil
	}
	var identity *cloudidentity.Service
	switch {
	case cfg.GroupMembership != config.GroupsDirect:
		if identity, err = cloudidentity.NewService(ctx, env.CloudIdentity...); err != nil {
			return nil, fmt.Errorf("cloud identity client: %w", err)
		}
	case cfg.ServiceAccount != "" || env.Directory != nil:
		if opts.Directory, err = directoryService(ctx, env, cfg.ServiceAccount); err != nil {
			return nil, err
		}
		opts.CustomerID = cfg.CustomerID
	}
	return catalog.NewAssetInventory(client, crm, identity, opts), nil
}
