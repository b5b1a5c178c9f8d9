package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"

	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/notify"
	"github.com/jitaccess/jitaccess/internal/webhook"
)

// webhooks builds the Google Chat and CloudEvents channels that are
// configured. Their secrets are read now, so that a missing secret or a
// bad URL in one stops the app at start-up with the variable's name,
// rather than failing quietly at the first request.
func (a *App) webhooks(ctx context.Context, cfg *config.Config, env Environment, id Identity, logger *slog.Logger) ([]notify.Channel, error) {
	o := cfg.Ops
	if !o.ChatConfigured() && !o.WebhookConfigured() {
		return nil, nil
	}
	var sm *secretmanager.Client
	read := func(variable, version string) (string, error) {
		if sm == nil {
			var err error
			if sm, err = secretmanager.NewClient(ctx, env.SecretManager...); err != nil {
				return "", fmt.Errorf("secret manager client: %w", err)
			}
			a.closers = append(a.closers, sm.Close)
		}
		v, err := secretSource(sm, version, cfg.BackendReadTimeout)(ctx)
		if err != nil {
			return "", fmt.Errorf("%s: %w", variable, err)
		}
		if v == "" {
			return "", fmt.Errorf("%s: the secret %s is empty", variable, version)
		}
		return v, nil
	}
	opts := func(channel string) webhook.Options {
		w := webhook.Options{Timeout: cfg.BackendWriteTimeout + cfg.BackendConnectTimeout, Logger: logger}
		if a.Metrics != nil {
			w.OnResult = func(outcome string) { a.Metrics.Notification(channel, outcome) }
		}
		return w
	}

	var channels []notify.Channel
	if o.ChatConfigured() {
		chatURL := ""
		if o.ChatWebhookURL != nil {
			chatURL = o.ChatWebhookURL.String()
		}
		if o.ChatWebhookSecret != "" {
			v, err := read("CHAT_WEBHOOK_SECRET", o.ChatWebhookSecret)
			if err != nil {
				return nil, err
			}
			if err := checkWebhookURL(v); err != nil {
				// Not the value: it is the webhook's credential.
				return nil, fmt.Errorf("CHAT_WEBHOOK_SECRET: the secret's payload %w", err)
			}
			chatURL = v
		}
		chat := webhook.NewChat(chatURL, cfg.NotificationTimezone, opts("chat"))
		a.closers = append(a.closers, func() error { chat.Close(); return nil })
		channels = append(channels, chat)
	}
	if o.WebhookConfigured() {
		key := o.WebhookSigningKey
		if o.WebhookSecret != "" {
			v, err := read("WEBHOOK_SECRET", o.WebhookSecret)
			if err != nil {
				return nil, err
			}
			key = v
		}
		source := "urn:jitaccess:projects:" + id.ProjectID
		if cfg.ExternalURL != nil {
			source = cfg.ExternalURL.String()
		}
		hook := webhook.NewCloudEvents(o.WebhookURL.String(), []byte(key), source, opts("webhook"))
		a.closers = append(a.closers, func() error { hook.Close(); return nil })
		channels = append(channels, hook)
	}
	return channels, nil
}

// checkWebhookURL is config's rule for a URL that came from a secret:
// absolute, https, or http on loopback.
func checkWebhookURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("is not an absolute https URL")
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if u.Scheme != "https" && (u.Scheme != "http" || !loopback) {
		return fmt.Errorf("must use https (http is allowed only for localhost and loopback addresses)")
	}
	return nil
}
