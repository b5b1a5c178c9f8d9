package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestLoadOps(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, withEnv(env{
		"METRICS_ADDR":        "127.0.0.1:9090",
		"EXTERNAL_URL":        "https://jit.example.com",
		"CHAT_WEBHOOK_URL":    "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t",
		"WEBHOOK_URL":         "https://hooks.example.com/jit",
		"WEBHOOK_SECRET":      "projects/p/secrets/hook/versions/latest",
		"WEBHOOK_SIGNING_KEY": "0123456789abcdef",
	}))
	o := c.Ops
	if o.MetricsAddr != "127.0.0.1:9090" || !o.ChatConfigured() || !o.WebhookConfigured() ||
		o.WebhookSecret != "projects/p/secrets/hook/versions/latest" {
		t.Errorf("Ops = %+v", o)
	}
	logged := fmt.Sprint(c.LogValue())
	for _, secret := range []string{"token=t", "key=k", "0123456789abcdef"} {
		if strings.Contains(logged, secret) {
			t.Errorf("the logged configuration contains %q: %s", secret, logged)
		}
	}
	if local := mustLoad(t, withEnv(env{"EXTERNAL_URL": "http://127.0.0.1:8080", "WEBHOOK_URL": "http://127.0.0.1:8099/hook", "WEBHOOK_SIGNING_KEY": "0123456789abcdef"})); local.Ops.WebhookURL == nil {
		t.Error("http on loopback was refused")
	}
}

func TestLoadOpsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  env
		want string // the start of the one message
	}{
		{"webhook_http_outside_loopback", env{"WEBHOOK_URL": "http://hooks.example.com/x", "WEBHOOK_SIGNING_KEY": "0123456789abcdef"},
			`WEBHOOK_URL="http://hooks.example.com/x": must use https`},
		{"chat_http_outside_loopback", env{"CHAT_WEBHOOK_URL": "http://chat.example.com/x?token=secret"},
			"CHAT_WEBHOOK_URL: must use https"},
		{"webhook_without_key", env{"WEBHOOK_URL": "https://hooks.example.com/x"},
			"WEBHOOK_SECRET is not set: required with WEBHOOK_URL"},
		{"key_without_webhook", env{"WEBHOOK_SECRET": "projects/p/secrets/s/versions/1"},
			"WEBHOOK_URL is not set: required when"},
		{"short_key", env{"WEBHOOK_URL": "https://hooks.example.com/x", "WEBHOOK_SIGNING_KEY": "short"},
			"WEBHOOK_SIGNING_KEY: must be at least 16"},
		{"bad_secret_name", env{"CHAT_WEBHOOK_SECRET": "my-secret"},
			`CHAT_WEBHOOK_SECRET="my-secret": must be a Secret Manager version name`},
		{"metrics_not_host_port", env{"METRICS_ADDR": "9090"}, `METRICS_ADDR="9090": must be host:port`},
		{"metrics_on_the_app_port", env{"METRICS_ADDR": ":8080"}, `METRICS_ADDR=":8080": must not be the app's PORT`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(withEnv(tt.env).lookup)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Load: %v\nwant a message starting %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "token=secret") {
				t.Errorf("the message repeats the chat webhook's token: %v", err)
			}
		})
	}
}
