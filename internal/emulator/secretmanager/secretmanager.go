// Package secretmanager emulates Secret Manager's AccessSecretVersion
// (gRPC) over the world's secrets, for SMTP_SECRET.
package secretmanager

import (
	"context"
	"fmt"
	"hash/crc32"
	"net/http"
	"regexp"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

var secretVersionName = regexp.MustCompile(`^projects/([^/]+)/secrets/([^/]+)/versions/([^/]+)$`)

// Service serves Secret Manager's AccessSecretVersion over gRPC, for
// SMTP_SECRET. Secrets come from the seed or World.AddSecret.
type Service struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	w *world.World
}

// New returns the Secret Manager service of w.
func New(w *world.World) *Service { return &Service{w: w} }

// Register registers the service on a gRPC server.
func (s *Service) Register(g *grpc.Server) { secretmanagerpb.RegisterSecretManagerServiceServer(g, s) }

// AccessSecretVersion returns a version's payload with its CRC32C, as
// Google does, so the client can check it.
func (s *Service) AccessSecretVersion(ctx context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	if err := s.w.Faults.Apply(ctx, "secretmanager.AccessSecretVersion"); err != nil {
		return nil, err
	}
	m := secretVersionName.FindStringSubmatch(req.GetName())
	if m == nil {
		return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("Invalid resource field value in the request: %q", req.GetName()))
	}
	secret := "projects/" + m[1] + "/secrets/" + m[2]
	data, n, ok := s.w.SecretVersion(secret, m[3])
	if !ok {
		return nil, wire.New(http.StatusNotFound, fmt.Sprintf("Secret [%s] not found or has no versions.", req.GetName()))
	}
	crc := int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    fmt.Sprintf("%s/versions/%d", secret, n),
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &crc},
	}, nil
}
