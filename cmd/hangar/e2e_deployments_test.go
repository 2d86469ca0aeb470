package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// deploymentMessage is the initial user.message param of a deployment.
func deploymentMessage(text string) anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion {
	return anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
		Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: text}}},
	}}
}

// TestE2EDeployments drives every method of client.Beta.Deployments and DeploymentRuns, and
// checks that a run creates a session whose (scripted) agent answers the initial message.
func TestE2EDeployments(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	a := newAgent(t, c, "nightly", scriptMetadata(t, []scriptStep{{"message": "DEPLOYED-OK-42"}}))
	env := newEnvironment(t, c, "env")

	d, err := c.Beta.Deployments.New(ctx, anthropic.BetaDeploymentNewParams{
		Name:          "nightly triage",
		Description:   anthropic.String("triage new issues"),
		Agent:         anthropic.BetaDeploymentNewParamsAgentUnion{OfString: anthropic.String(a.ID)},
		EnvironmentID: env.ID,
		InitialEvents: []anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion{deploymentMessage("triage")},
		Metadata:      map[string]string{"team": "infra"},
		Schedule:      anthropic.BetaManagedAgentsScheduleParams{Expression: "0 9 * * 1-5", Timezone: "America/New_York"},
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.HasPrefix(d.ID, "depl_") || d.Type != "deployment" || d.Name != "nightly triage" || d.Description != "triage new issues" ||
		d.Agent.ID != a.ID || d.Agent.Version != 1 || d.EnvironmentID != env.ID || d.Status != "active" ||
		d.Metadata["team"] != "infra" || len(d.InitialEvents) != 1 || d.InitialEvents[0].Type != "user.message" ||
		d.Schedule.Expression != "0 9 * * 1-5" || d.Schedule.Timezone != "America/New_York" || d.Schedule.Type != "cron" ||
		len(d.Schedule.UpcomingRunsAt) != 5 || !d.ArchivedAt.IsZero() || d.JSON.PausedReason.Raw() != "null" {
		t.Errorf("create = %s", d.RawJSON())
	}
	ny, _ := time.LoadLocation("America/New_York")
	for _, at := range d.Schedule.UpcomingRunsAt {
		if l := at.In(ny); l.Hour() != 9 || l.Minute() != 0 || l.Weekday() == time.Saturday || l.Weekday() == time.Sunday {
			t.Errorf("upcoming run %v is not 09:00 on a New York weekday", l)
		}
	}

	got, err := c.Beta.Deployments.Get(ctx, d.ID, anthropic.BetaDeploymentGetParams{})
	if err != nil || got.ID != d.ID || got.Name != d.Name {
		t.Fatalf("get = %v, %v", got, err)
	}
	up, err := c.Beta.Deployments.Update(ctx, d.ID, anthropic.BetaDeploymentUpdateParams{
		Name:     anthropic.String("renamed"),
		Schedule: anthropic.BetaManagedAgentsScheduleParams{Expression: "*/15 * * * *", Timezone: "UTC"},
	})
	if err != nil || up.Name != "renamed" || up.Schedule.Expression != "*/15 * * * *" || up.Description != "triage new issues" {
		t.Fatalf("update = %v, %v", up, err)
	}
	if n := up.Schedule.UpcomingRunsAt; len(n) != 5 || n[1].Sub(n[0]) != 15*time.Minute {
		t.Errorf("upcoming after update = %v", n)
	}

	paused, err := c.Beta.Deployments.Pause(ctx, d.ID, anthropic.BetaDeploymentPauseParams{})
	if err != nil || paused.Status != "paused" || paused.PausedReason.Type != "manual" || len(paused.Schedule.UpcomingRunsAt) != 5 {
		t.Fatalf("pause = %v, %v", paused, err)
	}
	list, err := c.Beta.Deployments.List(ctx, anthropic.BetaDeploymentListParams{Status: "paused"})
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != d.ID {
		t.Fatalf("list paused = %v, %v", list, err)
	}

	// Manual runs work while paused: the run's session answers the initial message.
	run, err := c.Beta.Deployments.Run(ctx, d.ID, anthropic.BetaDeploymentRunParams{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.HasPrefix(run.ID, "drun_") || run.Type != "deployment_run" || run.DeploymentID != d.ID || run.SessionID == "" ||
		run.TriggerContext.Type != "manual" || run.Agent.ID != a.ID || run.JSON.Error.Raw() != "null" || run.CreatedAt.IsZero() {
		t.Errorf("run = %s", run.RawJSON())
	}
	stream := openStream(t, ctx, c, run.SessionID)
	ids, types := listEventIDs(t, c, run.SessionID, anthropic.BetaSessionEventListParams{})
	if !slices.Contains(types, "session.status_idle") {
		readUntil(t, stream, isIdle)
		ids, types = listEventIDs(t, c, run.SessionID, anthropic.BetaSessionEventListParams{})
	}
	if len(ids) == 0 || types[0] != "user.message" || !slices.Contains(types, "agent.message") {
		t.Errorf("run session events: %v", types)
	}
	evs, err := c.Beta.Sessions.Events.List(ctx, run.SessionID, anthropic.BetaSessionEventListParams{})
	if err != nil || !strings.Contains(evs.RawJSON(), "DEPLOYED-OK-42") || !strings.Contains(evs.RawJSON(), "triage") {
		t.Errorf("run session transcript = %v, %v", evs, err)
	}
	sess, err := c.Beta.Sessions.Get(ctx, run.SessionID, anthropic.BetaSessionGetParams{})
	if err != nil || sess.Agent.ID != a.ID || sess.EnvironmentID != env.ID {
		t.Errorf("run session = %v, %v", sess, err)
	}

	gotRun, err := c.Beta.DeploymentRuns.Get(ctx, run.ID, anthropic.BetaDeploymentRunGetParams{})
	if err != nil || gotRun.ID != run.ID || gotRun.SessionID != run.SessionID {
		t.Fatalf("get run = %v, %v", gotRun, err)
	}
	runs, err := c.Beta.DeploymentRuns.List(ctx, anthropic.BetaDeploymentRunListParams{DeploymentID: anthropic.String(d.ID), TriggerType: "manual"})
	if err != nil || len(runs.Data) != 1 || runs.Data[0].ID != run.ID {
		t.Fatalf("list runs = %v, %v", runs, err)
	}
	none, err := c.Beta.DeploymentRuns.List(ctx, anthropic.BetaDeploymentRunListParams{HasError: anthropic.Bool(true)})
	if err != nil || len(none.Data) != 0 {
		t.Errorf("list runs with errors = %v, %v", none, err)
	}

	un, err := c.Beta.Deployments.Unpause(ctx, d.ID, anthropic.BetaDeploymentUnpauseParams{})
	if err != nil || un.Status != "active" || un.JSON.PausedReason.Raw() != "null" {
		t.Fatalf("unpause = %v, %v", un, err)
	}
	arch, err := c.Beta.Deployments.Archive(ctx, d.ID, anthropic.BetaDeploymentArchiveParams{})
	if err != nil || arch.ArchivedAt.IsZero() || arch.Status != "active" || len(arch.Schedule.UpcomingRunsAt) != 0 {
		t.Fatalf("archive = %v, %v", arch, err)
	}
	live, err := c.Beta.Deployments.List(ctx, anthropic.BetaDeploymentListParams{})
	if err != nil || len(live.Data) != 0 {
		t.Errorf("list without archived = %v, %v", live, err)
	}
	all := c.Beta.Deployments.ListAutoPaging(ctx, anthropic.BetaDeploymentListParams{IncludeArchived: anthropic.Bool(true)})
	n := 0
	for all.Next() {
		n++
	}
	if all.Err() != nil || n != 1 {
		t.Errorf("list with archived: %d, %v", n, all.Err())
	}
	_, err = c.Beta.Deployments.Run(ctx, d.ID, anthropic.BetaDeploymentRunParams{})
	wantStatus(t, err, 409, "invalid_request_error")
}

// TestE2EDeploymentsErrors checks validation and not-found answers in the error envelope, and
// that a run whose environment is gone is recorded with CMA's run error.
func TestE2EDeploymentsErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	a := newAgent(t, c, "a", nil)
	env := newEnvironment(t, c, "env")
	base := anthropic.BetaDeploymentNewParams{
		Name:          "d",
		Agent:         anthropic.BetaDeploymentNewParamsAgentUnion{OfString: anthropic.String(a.ID)},
		EnvironmentID: env.ID,
		InitialEvents: []anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion{deploymentMessage("hi")},
	}
	for name, mut := range map[string]func(p *anthropic.BetaDeploymentNewParams){
		"bad cron": func(p *anthropic.BetaDeploymentNewParams) {
			p.Schedule = anthropic.BetaManagedAgentsScheduleParams{Expression: "@daily", Timezone: "UTC"}
		},
		"bad timezone": func(p *anthropic.BetaDeploymentNewParams) {
			p.Schedule = anthropic.BetaManagedAgentsScheduleParams{Expression: "0 * * * *", Timezone: "Mars/Olympus"}
		},
		"seconds field": func(p *anthropic.BetaDeploymentNewParams) {
			p.Schedule = anthropic.BetaManagedAgentsScheduleParams{Expression: "0 0 * * * *", Timezone: "UTC"}
		},
		"no events": func(p *anthropic.BetaDeploymentNewParams) { p.InitialEvents = nil },
	} {
		p := base
		mut(&p)
		_, err := c.Beta.Deployments.New(ctx, p)
		if apiErr := wantStatus(t, err, 400, "invalid_request_error"); apiErr == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := c.Beta.Deployments.Get(ctx, "depl_missing", anthropic.BetaDeploymentGetParams{})
	wantStatus(t, err, 404, "not_found_error")
	_, err = c.Beta.DeploymentRuns.Get(ctx, "drun_missing", anthropic.BetaDeploymentRunGetParams{})
	wantStatus(t, err, 404, "not_found_error")

	// Manual run (no schedule) after its environment is archived: a run with an error, no session.
	d, err := c.Beta.Deployments.New(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if d.JSON.Schedule.Raw() != "null" {
		t.Errorf("schedule without one = %s", d.JSON.Schedule.Raw())
	}
	if _, err := c.Beta.Environments.Archive(ctx, env.ID, anthropic.BetaEnvironmentArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	run, err := c.Beta.Deployments.Run(ctx, d.ID, anthropic.BetaDeploymentRunParams{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if run.Error.Type != "environment_archived_error" || run.Error.Message == "" || run.JSON.SessionID.Raw() != "null" {
		t.Errorf("run with archived environment = %s", run.RawJSON())
	}
	failed, err := c.Beta.DeploymentRuns.List(ctx, anthropic.BetaDeploymentRunListParams{HasError: anthropic.Bool(true)})
	if err != nil || len(failed.Data) != 1 {
		t.Errorf("list failed runs = %v, %v", failed, err)
	}
}
