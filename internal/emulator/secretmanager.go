package emulator

import (
	"context"
	"fmt"
	"hash/crc32"
	"net/http"
	"regexp"
	"strconv"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
)

var secretVersionName = regexp.MustCompile(`^projects/([^/]+)/secrets/([^/]+)/versions/([^/]+)$`)

// SecretManager serves Secret Manager's AccessSecretVersion over gRPC, for
// SMTP_SECRET. Secrets come from the seed or World.AddSecret.
type SecretManager struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	w *World
}

// NewSecretManager returns the Secret Manager service of w.
func NewSecretManager(w *World) *SecretManager { return &SecretManager{w: w} }

// AddSecret adds a version to a secret ("projects/P/secrets/S"), creating
// the secret if needed, and returns the version's number.
func (w *World) AddSecret(secret string, data []byte) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.secrets == nil {
		w.secrets = map[string][][]byte{}
	}
	w.secrets[secret] = append(w.secrets[secret], append([]byte(nil), data...))
	return len(w.secrets[secret])
}

func (w *World) secretVersion(secret, version string) ([]byte, int, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	versions := w.secrets[secret]
	if len(versions) == 0 {
		return nil, 0, false
	}
	n := len(versions)
	if version != "latest" {
		v, err := strconv.Atoi(version)
		if err != nil || v < 1 || v > len(versions) {
			return nil, 0, false
		}
		n = v
	}
	return versions[n-1], n, true
}

// AccessSecretVersion returns a version's payload with its CRC32C, as
// Google does, so the client can check it.
func (s *SecretManager) AccessSecretVersion(ctx context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	if err := s.w.fault(ctx, "secretmanager.AccessSecretVersion"); err != nil {
		return nil, err
	}
	m := secretVersionName.FindStringSubmatch(req.GetName())
	if m == nil {
		return nil, newAPIError(http.StatusBadRequest, fmt.Sprintf("Invalid resource field value in the request: %q", req.GetName()))
	}
	secret := "projects/" + m[1] + "/secrets/" + m[2]
	data, n, ok := s.w.secretVersion(secret, m[3])
	if !ok {
		return nil, newAPIError(http.StatusNotFound, fmt.Sprintf("Secret [%s] not found or has no versions.", req.GetName()))
	}
	crc := int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    fmt.Sprintf("%s/versions/%d", secret, n),
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &crc},
	}, nil
}
