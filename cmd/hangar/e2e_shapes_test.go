package main

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// rawJSONer is every SDK response type.
type rawJSONer interface{ RawJSON() string }

// missingRequired lists the fields the SDK marks api:"required" that are absent from raw,
// walking nested objects and arrays of objects. path prefixes the names.
func missingRequired(typ reflect.Type, raw json.RawMessage, path string) []string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.Kind() {
	case reflect.Slice:
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return nil
		}
		var out []string
		for i, e := range elems {
			out = append(out, missingRequired(typ.Elem(), e, strings.TrimSuffix(path, ".")+"["+strconv.Itoa(i)+"].")...)
		}
		return out
	case reflect.Struct:
	default:
		return nil
	}
	if typ == reflect.TypeFor[time.Time]() {
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		v, ok := obj[name]
		if !ok {
			if strings.Contains(f.Tag.Get("api"), "required") {
				out = append(out, path+name)
			}
			continue
		}
		out = append(out, missingRequired(f.Type, v, path+name+".")...)
	}
	return out
}

// optionalInHangar are fields the SDK v2.15.0 marks required but that are newer than the
// launch contract (★ in managed-agents-api.md), so the server may omit them. Paths have
// their array indices removed.
var optionalInHangar = []string{
	"budget",       // session budget, ★ 2026-08
	"data.budget",  // the same in the sessions list
	"stop_details", // session.status_idle refusal details, ★
}

var arrayIndex = regexp.MustCompile(`\[\d+\]`)

// checkShape fails when v's JSON lacks a field the SDK requires.
func checkShape(t *testing.T, what string, v rawJSONer) {
	t.Helper()
	for _, m := range missingRequired(reflect.TypeOf(v), json.RawMessage(v.RawJSON()), "") {
		if slices.Contains(optionalInHangar, arrayIndex.ReplaceAllString(m, "")) {
			continue
		}
		t.Errorf("%s: required field %s missing from %s", what, m, v.RawJSON())
	}
}

func TestE2EResponseShapes(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	env := newEnvironment(t, c, "env")
	checkShape(t, "environment", env)
	a := newAgent(t, c, "agent", nil)
	checkShape(t, "agent", a)
	s := newSession(t, c, a.ID, env.ID)
	checkShape(t, "session", s)

	stream := openStream(t, ctx, c, s.ID)
	sent := send(t, c, s.ID, userMessage("hi"))
	checkShape(t, "send echo", sent[0].AsUserMessage())
	for _, ev := range readUntil(t, stream, isIdle) {
		var v rawJSONer
		switch ev.Type {
		case "user.message":
			v = ev.AsUserMessage()
		case "session.status_running":
			v = ev.AsSessionStatusRunning()
		case "span.model_request_start":
			v = ev.AsSpanModelRequestStart()
		case "span.model_request_end":
			v = ev.AsSpanModelRequestEnd()
		case "session.usage":
			v = ev.AsSessionUsage()
		case "agent.message":
			v = ev.AsAgentMessage()
		case "session.status_idle":
			v = ev.AsSessionStatusIdle()
		default:
			t.Errorf("unexpected event %s", ev.Type)
			continue
		}
		checkShape(t, ev.Type, v)
	}

	vault, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "v"})
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, "vault", vault)
	cred, err := c.Beta.Vaults.Credentials.New(ctx, vault.ID, anthropic.BetaVaultCredentialNewParams{
		Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{
			Token: "t", MCPServerURL: "https://mcp.example.com",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, "credential", cred)
	f, err := c.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{File: anthropic.File(strings.NewReader("x"), "x.txt", "text/plain")})
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, "file", f)

	agents, err := c.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, "agent list", agents)
	sessions, err := c.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{})
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, "session list", sessions)
}
