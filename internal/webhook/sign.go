// Package webhook delivers webhook events from the store's outbox (docs/webhooks.md):
// Dispatcher claims due deliveries, POSTs them signed per Standard Webhooks, and records
// each attempt, retrying with exponential backoff and jitter.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// NewSecret returns a fresh signing secret: "whsec_" + base64 of 32 random bytes, the form
// the official SDKs' Unwrap (standard-webhooks) takes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hangar.PrefixWebhookSecret + base64.StdEncoding.EncodeToString(b)
}

// Sign returns the Standard Webhooks signature header value of body sent as message id at
// ts: "v1," + base64(HMAC-SHA256(key, "{id}.{unix ts}.{body}")), key being the base64
// decoding of the secret after "whsec_".
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, hangar.PrefixWebhookSecret))
	if err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Headers returns the Standard Webhooks headers of a delivery.
func Headers(secret, id string, ts time.Time, body []byte) (map[string]string, error) {
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"webhook-id":        id,
		"webhook-timestamp": strconv.FormatInt(ts.Unix(), 10),
		"webhook-signature": sig,
	}, nil
}
