package redact_test

import (
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/internal/redact"
)

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"chat_webhook", "https://chat.googleapis.com/v1/spaces/AAAAb3xkZ1E/messages?key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI&token=uTn2y0B8oQ%3D",
			"https://chat.googleapis.com/v1/spaces/AAAAb3xkZ1E/messages?key=REDACTED&token=REDACTED"},
		{"userinfo_and_fragment", "https://bob:hunter2@hooks.example.com/in#sig", "https://REDACTED@hooks.example.com/in#REDACTED"},
		{"slack_path", "https://hooks.slack.com/services/T000/B000/short", "https://hooks.slack.com/services/REDACTED/REDACTED/REDACTED"},
		{"token_like_segment", "https://events.example.com/hook/9f86d081884c7d659a2feaa0c55ad015/in", "https://events.example.com/hook/REDACTED/in"},
		{"clean_url_unchanged", "https://jit.example.com/", "https://jit.example.com/"},
		{"loopback_with_port", "http://127.0.0.1:8080/metrics", "http://127.0.0.1:8080/metrics"},
		{"unparsable", "https://x.example.com/%zz?token=s3cr3t", "https://REDACTED"},
		{"not_a_url", "smtp.example.com", "smtp.example.com"},
	}
	for _, tt := range tests {
		if got := redact.URL(tt.in); got != tt.want {
			t.Errorf("%s: URL(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	in := `Post "https://hooks.example.com/in?token=s3cr3t": dial tcp 127.0.0.1:1: connect: connection refused; also https://u:p@x.example.com/a`
	got := redact.Text(in)
	for _, secret := range []string{"s3cr3t", "u:p@"} {
		if strings.Contains(got, secret) {
			t.Errorf("Text kept %q: %s", secret, got)
		}
	}
	if !strings.Contains(got, `Post "https://hooks.example.com/in?token=REDACTED": dial tcp`) {
		t.Errorf("Text = %s", got)
	}
	if s := "no url here: just text"; redact.Text(s) != s {
		t.Errorf("Text changed %q", s)
	}
}
