package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// TestE2ESessionExtras drives the session surface extras through the official SDK against
// a real server: agent_with_overrides, session.usage events and usage.list_cost /
// active_seconds, session updates with session.updated events, deployment_id and its list
// filter, and file rubrics resolved to text.
func TestE2ESessionExtras(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	env := newEnvironment(t, c, "env")
	a := newAgent(t, c, "extras", nil)

	s, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgentWithOverridess: &anthropic.BetaManagedAgentsAgentWithOverridesParams{
			ID: a.ID, System: anthropic.String("overridden for this session"),
		}},
		EnvironmentID: env.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Agent.System != "overridden for this session" || s.Agent.ID != a.ID || s.Agent.Version != a.Version || s.DeploymentID != "" {
		t.Errorf("session agent = %s", s.Agent.RawJSON())
	}
	if got, err := c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{}); err != nil || got.System != a.System || got.Version != a.Version {
		t.Errorf("agent changed by the override: %v %v", got, err)
	}

	t.Run("session.usage after the model request", func(t *testing.T) {
		stream := openStream(t, ctx, c, s.ID)
		send(t, c, s.ID, userMessage("hi"))
		evs := readUntil(t, stream, isIdle)
		var usage *anthropic.BetaManagedAgentsSessionUsageEvent
		for i, ev := range evs {
			if ev.Type == "session.usage" {
				u := ev.AsSessionUsage()
				usage = &u
				if evs[i-1].Type != "span.model_request_end" {
					t.Errorf("session.usage follows %s, want span.model_request_end", evs[i-1].Type)
				}
			}
		}
		if usage == nil {
			t.Fatalf("no session.usage in %v", eventTypes(evs))
		}
		checkShape(t, "session.usage", *usage)
		if usage.Usage.InputTokens == 0 || usage.Usage.ListCost.Currency != "USD" || !usage.Usage.JSON.ListCost.Valid() || usage.Usage.ActiveSeconds < 0 {
			t.Errorf("session.usage = %s", usage.RawJSON())
		}
		got, err := c.Beta.Sessions.Get(ctx, s.ID, anthropic.BetaSessionGetParams{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Usage.InputTokens != usage.Usage.InputTokens || got.Usage.ListCost.Amount != usage.Usage.ListCost.Amount ||
			!got.Usage.JSON.ActiveSeconds.Valid() || got.Usage.ActiveSeconds != got.Stats.ActiveSeconds {
			t.Errorf("session usage = %s, stats %s", got.Usage.RawJSON(), got.Stats.RawJSON())
		}
	})

	t.Run("update emits session.updated", func(t *testing.T) {
		stream := openStream(t, ctx, c, s.ID)
		updated, err := c.Beta.Sessions.Update(ctx, s.ID, anthropic.BetaSessionUpdateParams{
			Title: anthropic.String("renamed"),
			Agent: anthropic.BetaManagedAgentsSessionAgentUpdateParam{Tools: []anthropic.BetaManagedAgentsSessionAgentUpdateToolUnionParam{
				{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if updated.Title != "renamed" || len(updated.Agent.Tools) != 1 || updated.Agent.System != "overridden for this session" {
			t.Errorf("updated = %s", updated.RawJSON())
		}
		ev := readUntil(t, stream, isType("session.updated"))
		u := ev[len(ev)-1].AsSessionUpdated()
		checkShape(t, "session.updated", u)
		if u.Title != "renamed" || len(u.Agent.Tools) != 1 || u.JSON.Budget.Valid() || u.JSON.Metadata.Valid() {
			t.Errorf("session.updated = %s", u.RawJSON())
		}
		_, err = c.Beta.Sessions.Update(ctx, s.ID, anthropic.BetaSessionUpdateParams{VaultIDs: []string{"vlt_x"}})
		wantStatus(t, err, 400, "invalid_request_error")
	})

	t.Run("file rubric", func(t *testing.T) {
		f, err := c.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{File: anthropic.File(strings.NewReader("- the answer is 42\n"), "rubric.md", "text/markdown")})
		if err != nil {
			t.Fatal(err)
		}
		define := func(fileID string) anthropic.BetaManagedAgentsEventParamsUnion {
			return anthropic.BetaManagedAgentsEventParamsUnion{OfUserDefineOutcome: &anthropic.BetaManagedAgentsUserDefineOutcomeEventParams{
				Description: "answer", Rubric: anthropic.BetaManagedAgentsUserDefineOutcomeEventParamsRubricUnion{
					OfFile: &anthropic.BetaManagedAgentsFileRubricParams{FileID: fileID},
				},
			}}
		}
		other := newSession(t, c, a.ID, env.ID)
		_, err = c.Beta.Sessions.Events.Send(ctx, other.ID, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{define("file_missing")}})
		if apiErr := wantStatus(t, err, 400, "invalid_request_error"); apiErr != nil && !strings.Contains(apiErr.Error(), "file_missing not found") {
			t.Errorf("error %v", apiErr)
		}
		echo := send(t, c, other.ID, define(f.ID))
		rubric := echo[0].AsUserDefineOutcome().Rubric
		if rubric.Type != "text" || rubric.Content != "- the answer is 42\n" {
			t.Errorf("rubric = %s", rubric.RawJSON())
		}
	})

	t.Run("file expires_in_seconds", func(t *testing.T) {
		before := time.Now()
		f, err := c.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{File: anthropic.File(strings.NewReader("x"), "x.txt", "text/plain"), ExpiresInSeconds: anthropic.Int(3600)})
		if err != nil {
			t.Fatal(err)
		}
		if f.ExpiresAt.Before(before.Add(time.Hour-time.Second)) || f.ExpiresAt.After(time.Now().Add(time.Hour+time.Second)) {
			t.Errorf("expires_at = %v, want about an hour from now", f.ExpiresAt)
		}
		_, err = c.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{File: anthropic.File(strings.NewReader("x"), "x.txt", "text/plain"), ExpiresInSeconds: anthropic.Int(60)})
		wantStatus(t, err, 400, "invalid_request_error")
	})

	t.Run("deployment_id", func(t *testing.T) {
		d, err := c.Beta.Deployments.New(ctx, anthropic.BetaDeploymentNewParams{
			Name: "extras", Agent: anthropic.BetaDeploymentNewParamsAgentUnion{OfString: anthropic.String(a.ID)}, EnvironmentID: env.ID,
			InitialEvents: []anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion{deploymentMessage("go")},
		})
		if err != nil {
			t.Fatal(err)
		}
		run, err := c.Beta.Deployments.Run(ctx, d.ID, anthropic.BetaDeploymentRunParams{})
		if err != nil {
			t.Fatal(err)
		}
		page, err := c.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{DeploymentID: anthropic.String(d.ID)})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != run.SessionID || page.Data[0].DeploymentID != d.ID {
			t.Errorf("sessions of deployment %s: %d (run session %s)", d.ID, len(page.Data), run.SessionID)
		}
	})
}

// TestE2ESessionExtrasWebhooks: lifecycle and session-update webhook types reach a real
// receiver that verifies each delivery with the SDK's Unwrap and decodes it into the SDK's
// types.
func TestE2ESessionExtrasWebhooks(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	secret := make(chan string, 1)
	rcv := newWebhookReceiver(t, sync.OnceValue(func() string { return <-secret }))
	ep, err := c.Beta.Organization.Webhooks.New(ctx, anthropic.BetaOrganizationWebhookNewParams{
		URL:           rcv.srv.URL + "/hook",
		EnabledEvents: []string{"agent.created", "session.created", "session.updated", "session.idled", "session.archived"},
	})
	if err != nil {
		t.Fatal(err)
	}
	secret <- ep.SigningSecret

	a := newAgent(t, c, "hooked-extras", nil)
	env := newEnvironment(t, c, "hooked-extras-env")
	s := newSession(t, c, a.ID, env.ID)
	if ev := rcv.next(t, "agent.created"); ev.Data.ID != a.ID || ev.Data.AsAgentCreated().ID != a.ID {
		t.Errorf("agent.created %+v", ev.Data)
	}
	if ev := rcv.next(t, "session.created"); ev.Data.ID != s.ID {
		t.Errorf("session.created %+v", ev.Data)
	}
	if _, err := c.Beta.Sessions.Update(ctx, s.ID, anthropic.BetaSessionUpdateParams{Title: anthropic.String("t")}); err != nil {
		t.Fatal(err)
	}
	if ev := rcv.next(t, "session.updated"); ev.Data.AsSessionUpdated().ID != s.ID {
		t.Errorf("session.updated %+v", ev.Data)
	}
	send(t, c, s.ID, userMessage("hi"))
	if ev := rcv.next(t, "session.idled"); ev.Data.ID != s.ID || ev.Data.OrganizationID == "" || ev.Data.WorkspaceID == "" {
		t.Errorf("session.idled %+v", ev.Data)
	}
	// session.idled was queued in the transaction that made the session idle, so it can be
	// archived now.
	if _, err := c.Beta.Sessions.Archive(ctx, s.ID, anthropic.BetaSessionArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	if ev := rcv.next(t, "session.archived"); ev.Data.ID != s.ID {
		t.Errorf("session.archived %+v", ev.Data)
	}
}
