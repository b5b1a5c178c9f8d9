package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// appInstance is one jitaccess instance in this process, talking to an
// emulator child, behind a loopback HTTP server.
type appInstance struct {
	app     *app.App
	srv     *http.Server
	url     string
	iap     *emulator.IAP
	outbox  *outbox.Server
	client  *http.Client
	handler http.Handler
}

// jwksTransport answers every request with the JWK set of this process's
// IAP key: the app fetches IAP's public keys from Google's URL, and the
// assertions the bench sends are minted here.
type jwksTransport struct{ iap *emulator.IAP }

func (t jwksTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(t.iap.JWKS())), Request: r,
	}, nil
}

// startApp builds an instance with the production wiring (app.Build),
// pointed at ep, with the environment variables overrides.
func (b *bench) startApp(ctx context.Context, ep emulator.Endpoints, overrides map[string]string) (*appInstance, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &appInstance{url: "http://" + ln.Addr().String(), client: &http.Client{Timeout: 30 * time.Second}}
	if a.iap, err = emulator.NewIAP(nil); err != nil {
		_ = ln.Close()
		return nil, err
	}
	if a.outbox, err = outbox.Start(ctx, "127.0.0.1:0", outbox.Options{Username: emulated.SMTPUser, Password: emulated.SMTPPassword}); err != nil {
		_ = ln.Close()
		return nil, err
	}
	// The per-user request limit (RATE_LIMIT_REQUESTS) would answer the
	// load generator's four users with 429s; it is not what is measured.
	// The floors count the audit write as a Logging API call
	// (WriteLogEntries); AUDIT_LOG's default, stdout, makes none, and would
	// also print every audit entry among the tables.
	vars := map[string]string{"RATE_LIMIT_REQUESTS": "0", "AUDIT_LOG": "cloud-logging"}
	if b.s.cacheTTL != "" {
		vars["CATALOG_CACHE_TTL"] = b.s.cacheTTL
	}
	for k, v := range overrides {
		vars[k] = v
	}
	if vars["RESOURCE_CATALOG"] == "AssetInventory" && vars["RESOURCE_CUSTOMER_ID"] == "" {
		vars["RESOURCE_CUSTOMER_ID"] = "C0example1"
	}
	cfg, err := config.Load(emulated.Config(a.outbox.Addr(), a.url, vars))
	if err != nil {
		a.close()
		_ = ln.Close()
		return nil, err
	}
	rest := []option.ClientOption{option.WithEndpoint(ep.ResourceManager), option.WithoutAuthentication()}
	grpcOpts := []option.ClientOption{
		option.WithEndpoint(ep.Asset), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
	env := app.Environment{
		Version:         "bench",
		ResourceManager: rest, CloudIdentity: rest, Directory: rest, IAMCredentials: rest,
		Asset: grpcOpts, Logging: grpcOpts, SecretManager: grpcOpts,
		IAPKeysHTTPClient:     &http.Client{Transport: jwksTransport{a.iap}},
		ServiceAccountKeysURL: ep.IAMCredentials + "service_accounts/v1/metadata/jwk/",
		SMTPTLSConfig:         a.outbox.TLSConfig(),
	}
	if a.app, err = app.Build(ctx, cfg, env); err != nil {
		a.close()
		_ = ln.Close()
		return nil, err
	}
	a.handler = a.app.Handler
	a.srv = &http.Server{Handler: a.app.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

func (a *appInstance) close() {
	if a.srv != nil {
		_ = a.srv.Close()
	}
	if a.app != nil {
		_ = a.app.Close()
	}
	if a.outbox != nil {
		_ = a.outbox.Close()
	}
}

// headers are the request headers of user (IAP assertion and X-JITACCESS).
func (a *appInstance) headers(user string) (map[string]string, error) {
	tok, err := a.iap.Mint(emulator.IAPClaims{
		Email: user, Audience: emulated.Audience, DeviceID: "bench-" + user,
		AccessLevels: []string{"accessPolicies/100/accessLevels/corp"},
	})
	if err != nil {
		return nil, err
	}
	return map[string]string{"X-Jitaccess": "1", "X-Goog-Iap-Jwt-Assertion": tok}, nil
}

// do sends an API request as user and fails unless it answers 200.
func (a *appInstance) do(ctx context.Context, user, method, path string, body any) ([]byte, error) {
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, r)
	if err != nil {
		return nil, err
	}
	h, err := a.headers(user)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s as %s: %d %s", method, path, user, resp.StatusCode, strings.TrimSpace(string(out)))
	}
	return out, nil
}
