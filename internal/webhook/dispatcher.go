package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/hangar-dev/hangar"
)

// Opener opens sealed endpoint secrets (internal/vault.Keyring).
type Opener interface {
	Open(sealed []byte, keyID string) ([]byte, error)
}

// Defaults of Config.
const (
	DefaultMaxAttempts = 8
	DefaultClaimTTL    = time.Minute
	DefaultPoll        = 500 * time.Millisecond
	DefaultTimeout     = 10 * time.Second
	defaultBatch       = 16
)

// Config configures a Dispatcher. Zero fields take the defaults.
type Config struct {
	Store   hangar.WebhookStore
	Secrets Opener
	// Owner names this dispatcher in delivery claims: unique per instance.
	Owner string
	// Client sends the POSTs; its redirects are never followed (a 3xx is a failure, as in
	// CMA). Default: a client with DefaultTimeout.
	Client *http.Client
	// Clock stamps attempts and signatures; default hangar.Now.
	Clock func() time.Time
	// Backoff returns the delay before the retry that follows failed attempt n (1-based);
	// default Backoff.
	Backoff     func(n int) time.Duration
	MaxAttempts int
	// ClaimTTL bounds how long a claimed delivery stays this dispatcher's: after it, a
	// crashed dispatcher's deliveries are claimed again by another (at least once).
	ClaimTTL time.Duration
	Poll     time.Duration
	Logger   *slog.Logger
}

// Dispatcher delivers the outbox. Several dispatchers (one per instance) may share a store:
// the store's atomic claim keeps them off each other's deliveries.
type Dispatcher struct {
	cfg Config
}

// New returns a Dispatcher.
func New(cfg Config) *Dispatcher {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultTimeout}
	}
	c := *cfg.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = &c
	if cfg.Clock == nil {
		cfg.Clock = hangar.Now
	}
	if cfg.Backoff == nil {
		cfg.Backoff = Backoff
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.ClaimTTL <= 0 {
		cfg.ClaimTTL = DefaultClaimTTL
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{cfg: cfg}
}

// Backoff is the default retry schedule: 5 s doubling per attempt, capped at one hour, with
// full jitter over the upper half so that many failing deliveries do not retry in step.
func Backoff(n int) time.Duration {
	d := 5 * time.Second << min(n-1, 10)
	d = min(d, time.Hour)
	return d/2 + rand.N(d/2+1)
}

// Run delivers until ctx ends, polling the outbox every Config.Poll.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		for {
			n, err := d.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				d.cfg.Logger.Warn("webhook dispatch", "err", err)
			}
			if n == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims one batch of due deliveries, attempts each once and records the attempts.
// It returns how many it attempted.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	now := d.cfg.Clock()
	ds, err := d.cfg.Store.ClaimWebhookDeliveries(ctx, d.cfg.Owner, now, now.Add(d.cfg.ClaimTTL), defaultBatch)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, del := range ds {
		r := d.attempt(ctx, del)
		if err := d.cfg.Store.FinishWebhookAttempt(ctx, d.cfg.Owner, del.EndpointID, del.EventID, r); err != nil {
			errs = append(errs, err)
		}
	}
	return len(ds), errors.Join(errs...)
}

// attempt POSTs one delivery and decides what follows.
func (d *Dispatcher) attempt(ctx context.Context, del hangar.WebhookDelivery) hangar.WebhookResult {
	start := d.cfg.Clock()
	a := hangar.WebhookAttempt{At: start}
	n := len(del.Attempts) + 1
	status, err := d.post(ctx, del, start)
	a.StatusCode = status
	a.DurationMS = d.cfg.Clock().Sub(start).Milliseconds()
	var final bool
	if err != nil {
		a.Error = err.Error()
		final = errors.Is(err, errPermanent)
	}
	if err == nil {
		return hangar.WebhookResult{Attempt: a, Done: true, Delivered: true}
	}
	if final || n >= d.cfg.MaxAttempts {
		d.cfg.Logger.Warn("webhook delivery failed for good", "webhook_id", del.EndpointID, "event_id", del.EventID, "attempts", n, "err", err)
		return hangar.WebhookResult{Attempt: a, Done: true}
	}
	return hangar.WebhookResult{Attempt: a, Next: start.Add(d.cfg.Backoff(n))}
}

// errPermanent marks failures that retrying cannot fix (endpoint gone or disabled).
var errPermanent = errors.New("not retried")

// post sends the delivery; a nil error means a 2xx.
func (d *Dispatcher) post(ctx context.Context, del hangar.WebhookDelivery, ts time.Time) (int, error) {
	ep, err := d.cfg.Store.GetWebhookEndpoint(ctx, del.EndpointID)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errPermanent, err)
	}
	if ep.State != hangar.WebhookEnabled {
		return 0, fmt.Errorf("%w: endpoint is disabled", errPermanent)
	}
	secret, err := d.cfg.Secrets.Open(ep.Sealed, ep.KeyID)
	if err != nil {
		return 0, fmt.Errorf("%w: open signing secret: %w", errPermanent, err)
	}
	headers, err := Headers(string(secret), del.EventID, ts, del.Payload)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errPermanent, err)
	}
	url := ep.URL
	if del.URL != "" {
		url = del.URL // agent-level webhook: the session's agent version names the URL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(del.Payload))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Hangar-Webhooks/1")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
