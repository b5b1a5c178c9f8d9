package app

import (
	"context"
	"fmt"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/logging/logadmin"
	"google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/activation"
	"github.com/jitaccess/jitaccess/internal/audit"
	"github.com/jitaccess/jitaccess/internal/catalog"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/server"
)

// lifecycle wires My access, end, extend and history: the Asset index
// finds candidate resources, the IAM client reads and changes the live
// policies, Cloud Identity answers the administrator and auditor groups,
// and the audit log is read back through logadmin where it is written to
// Cloud Logging.
func (a *App) lifecycle(ctx context.Context, cfg *config.Config, env Environment, id Identity,
	uc *activation.Service, policies *iam.Client, assetClient *asset.Client, crm *cloudresourcemanager.Service, catOpts catalog.Options,
) (*activation.Lifecycle, error) {
	var groups activation.Groups
	if cfg.Lifecycle.AdministratorGroup != "" || cfg.Lifecycle.AuditorGroup != "" {
		identity, err := cloudidentity.NewService(ctx, env.CloudIdentity...)
		if err != nil {
			return nil, fmt.Errorf("cloud identity client: %w", err)
		}
		groups = catalog.NewGroups(identity, catOpts)
	}
	var history activation.HistoryReader
	if cfg.Platform != config.PlatformLocal || env.Logging != nil {
		admin, err := logadmin.NewClient(ctx, "projects/"+id.ProjectID, env.Logging...)
		if err != nil {
			return nil, fmt.Errorf("cloud logging admin client: %w", err)
		}
		a.closers = append(a.closers, admin.Close)
		history = audit.NewHistory(admin, id.ProjectID, historyOfService(cfg)...).WithTimeout(cfg.BackendReadTimeout)
	}
	return activation.NewLifecycle(uc, catalog.NewGrantFinder(assetClient, crm, catOpts), policies, groups, history,
		activation.LifecycleOptions{
			AdministratorGroup: cfg.Lifecycle.AdministratorGroup,
			AuditorGroup:       cfg.Lifecycle.AuditorGroup,
		}), nil
}

// nodeUseCases serves the folder and organization routes when
// ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS is on; nil leaves them out.
func nodeUseCases(cfg *config.Config, uc *activation.Service) server.NodeUseCases {
	if !cfg.Lifecycle.FoldersAndOrgs {
		return nil
	}
	return uc
}
