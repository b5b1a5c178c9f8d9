// Package wiretest holds test helpers for the emulator's API packages
// that check answers on the wire as the real client libraries see them.
package wiretest

import (
	"encoding/json"
	"errors"
	"testing"

	"google.golang.org/api/googleapi"
)

// MustAPIError checks that err is a *googleapi.Error with the HTTP code
// and canonical status, and returns it.
func MustAPIError(t testing.TB, err error, code int, status string) *googleapi.Error {
	t.Helper()
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) {
		t.Fatalf("error = %v (%T), want *googleapi.Error %d", err, err, code)
	}
	if gerr.Code != code {
		t.Fatalf("code = %d (%s), want %d", gerr.Code, gerr.Message, code)
	}
	var body struct {
		Error struct {
			Status string `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(gerr.Body), &body); err != nil {
		t.Fatalf("error body %q is not Google's JSON error: %v", gerr.Body, err)
	}
	if body.Error.Status != status {
		t.Errorf("status = %q, want %q (message %q)", body.Error.Status, status, gerr.Message)
	}
	return gerr
}
