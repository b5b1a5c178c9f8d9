package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iamcredentials/v1"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jitaccess/internal/approval"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/server"
)

// iapKeysURL is where IAP publishes the keys of its assertions, and where
// idtoken fetches them.
const iapKeysURL = "https://www.gstatic.com/iap/verify/public_key-jwk"

// Names of the readiness details (GET /health/ready), documented in
// docs/operations.md.
const (
	readyConfiguration      = "ConfigurationIsValid"
	readyIAPKeys            = "IapKeysAreAvailable"
	readyServiceAccountKeys = "ServiceAccountKeysAreAvailable"
	readyResourceManager    = "ResourceManagerIsReachable"
	readyAsset              = "CloudAssetIsReachable"
	readyIAMCredentials     = "IamCredentialsIsReachable"
	readySMTPSecret         = "SmtpSecretIsReadable"
)

// readinessDeps are the clients the probes use.
type readinessDeps struct {
	cfg        *config.Config
	id         Identity
	keysClient *http.Client // IAP's and service accounts' public keys
	saKeysURL  string
	crm        *cloudresourcemanager.Service
	asset      *asset.Client
	creds      *iamcredentials.Service
	smtpSecret func(context.Context) (string, error) // nil without SMTP_SECRET
	clock      func() time.Time
}

// readinessProbes check what the app needs to serve a request: the keys
// that verify IAP assertions and approval tokens, and the Google APIs that
// every request calls, each with one cheap call. A Google answer of 403
// counts as reachable: the probe shows that the API answers the app's
// credentials; a missing role shows in the requests that need it, with a
// message naming it, and restarting the instance would not fix it.
func readinessProbes(d readinessDeps) []server.Probe {
	probes := []server.Probe{
		{Name: readyConfiguration, Check: func(context.Context) error {
			// A bad configuration stops the app at start-up; what remains is
			// the identity that may have come from the metadata server.
			if d.id.ProjectID == "" || d.id.ProjectNumber == "" || d.id.ServiceAccount == "" {
				return errors.New("the app's project or service account is unknown")
			}
			return nil
		}},
		{Name: readyIAPKeys, Check: func(ctx context.Context) error {
			return fetchKeySet(ctx, d.keysClient, iapKeysURL)
		}},
		{Name: readyServiceAccountKeys, Check: func(ctx context.Context) error {
			return fetchKeySet(ctx, d.keysClient, d.saKeysURL+string(d.id.ServiceAccount))
		}},
		{Name: readyResourceManager, Check: func(ctx context.Context) error {
			return reachable(getScopePolicy(ctx, d.crm, d.cfg.Scope))
		}},
		{Name: readyAsset, Check: func(ctx context.Context) error {
			it := d.asset.SearchAllResources(ctx, &assetpb.SearchAllResourcesRequest{
				Scope: d.cfg.Scope.String(), AssetTypes: []string{"cloudresourcemanager.googleapis.com/Project"}, PageSize: 1,
			})
			_, err := it.Next()
			if errors.Is(err, iterator.Done) {
				err = nil
			}
			return reachable(err)
		}},
		{Name: readyIAMCredentials, Check: func(ctx context.Context) error {
			// A short-lived token for no audience the app accepts: it proves
			// that approval requests can be signed, and is thrown away.
			now := d.clock()
			claims, _ := json.Marshal(map[string]any{ //nolint:errchkjson // strings and numbers always marshal
				"aud": "jitaccess-readiness-probe", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
			})
			_, err := d.creds.Projects.ServiceAccounts.SignJwt("projects/-/serviceAccounts/"+string(d.id.ServiceAccount),
				&iamcredentials.SignJwtRequest{Payload: string(claims)}).Context(ctx).Do()
			return reachable(err)
		}},
	}
	if d.smtpSecret != nil {
		probes = append(probes, server.Probe{Name: readySMTPSecret, Check: func(ctx context.Context) error {
			v, err := d.smtpSecret(ctx)
			if err == nil && v == "" {
				err = errors.New("the secret is empty")
			}
			return err
		}})
	}
	return probes
}

func getScopePolicy(ctx context.Context, crm *cloudresourcemanager.Service, scope config.Scope) error {
	req := &cloudresourcemanager.GetIamPolicyRequest{Options: &cloudresourcemanager.GetPolicyOptions{RequestedPolicyVersion: 3}}
	var err error
	switch scope.Type {
	case config.ScopeOrganization:
		_, err = crm.Organizations.GetIamPolicy(scope.String(), req).Context(ctx).Do()
	case config.ScopeFolder:
		_, err = crm.Folders.GetIamPolicy(scope.String(), req).Context(ctx).Do()
	default:
		_, err = crm.Projects.GetIamPolicy(scope.String(), req).Context(ctx).Do()
	}
	return err
}

// reachable treats permission denied as an answer.
func reachable(err error) error {
	if err == nil {
		return nil
	}
	if gerr, ok := errors.AsType[*googleapi.Error](err); ok && gerr.Code == http.StatusForbidden {
		return nil
	}
	if status.Code(err) == codes.PermissionDenied {
		return nil
	}
	return err
}

// fetchKeySet checks that url serves a JWK set with at least one key.
func fetchKeySet(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(set.Keys) == 0 {
		return fmt.Errorf("GET %s: no keys", url)
	}
	return nil
}

// saKeysURL is where approval fetches the service account's keys.
func saKeysURL(env Environment) string {
	if env.ServiceAccountKeysURL != "" {
		return env.ServiceAccountKeysURL
	}
	return approval.GoogleKeysURL
}
