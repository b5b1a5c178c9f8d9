package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	asset "cloud.google.com/go/asset/apiv1"

	"github.com/jitaccess/jitaccess/internal/catalog"
	"github.com/jitaccess/jitaccess/internal/config"
)

// CompatReport writes to w the bindings in RESOURCE_SCOPE that are
// eligible under jitaccess but were not under Just-In-Time Access 1.8.1
// with the same RESOURCE_CATALOG (`jitaccess compat-report`), so that an
// administrator can review them before switching.
func CompatReport(ctx context.Context, cfg *config.Config, env Environment, w io.Writer) error {
	client, err := asset.NewClient(ctx, env.Asset...)
	if err != nil {
		return fmt.Errorf("cloud asset client: %w", err)
	}
	defer func() { _ = client.Close() }() // read-only
	ctx, cancel := context.WithTimeout(ctx, 10*cfg.BackendReadTimeout)
	defer cancel()
	found, err := catalog.CompatReport(ctx, client, cfg.Scope.String(), cfg.Catalog == config.CatalogPolicyAnalyzer)
	if err != nil {
		return err
	}
	// tabwriter keeps the first write error and Flush returns it.
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "# Bindings in %s eligible under jitaccess (%s catalog) but not under Just-In-Time Access 1.8.1: %d\n", cfg.Scope, cfg.Catalog, len(found))
	if len(found) > 0 {
		_, _ = fmt.Fprintln(tw, "RESOURCE\tROLE\tMEMBERS\tCONDITION\tWHY")
	}
	for _, b := range found {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Resource, b.Role, strings.Join(b.Members, ","),
			strings.Join(strings.Fields(b.Condition), " "), b.Reason)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}
