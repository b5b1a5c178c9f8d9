package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/option"

	"github.com/jitaccess/jitaccess/internal/emulator"
)

func TestRunServesTheSeededWorld(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"jitaccess-emulator", "-seed", "../../testdata/demo.yaml"}, outW, io.Discard)
		_ = outW.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the endpoints line: %v (run: %v)", err, <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	var ep emulator.Endpoints
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ep); err != nil {
		t.Fatalf("endpoints line %q: %v", line, err)
	}
	if ep.ResourceManager == "" || ep.Asset == "" || ep.Control == "" {
		t.Fatalf("endpoints = %+v", ep)
	}

	crm, err := cloudresourcemanager.NewService(ctx, option.WithEndpoint(ep.ResourceManager), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	p, err := crm.Projects.GetIamPolicy("projects/prod-data-warehouse", &cloudresourcemanager.GetIamPolicyRequest{
		Options: &cloudresourcemanager.GetPolicyOptions{RequestedPolicyVersion: 3},
	}).Context(ctx).Do()
	if err != nil {
		t.Fatalf("getIamPolicy: %v", err)
	}
	if p.Version != 3 || len(p.Bindings) == 0 || p.Etag == "" {
		t.Errorf("policy = %+v", p)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel: %v", err)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing_seed", []string{"-seed", "no-such-file.yaml"}, "open seed"},
		{"invalid_seed", []string{"-seed", "main.go"}, "seed main.go"},
		{"unknown_flag", []string{"-colour"}, "flag provided but not defined"},
		{"extra_argument", []string{"serve"}, "unexpected arguments"},
		{"bad_address", []string{"-http", "256.0.0.1:99999"}, "listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), append([]string{"jitaccess-emulator"}, tc.args...), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error mentioning %q", tc.args, err, tc.want)
			}
		})
	}
}
