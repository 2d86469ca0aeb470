package e2b

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Environment builds (docs/sandboxes.md "Environment builds").
//
// A layer is an E2B template named hangar-env-<key>, built by E2B's build system through
// its public API, no CLI or Docker involved: POST /v3/templates names the template and
// returns a build, POST /v2/templates/{id}/builds/{build} starts it from the configured
// template (fromTemplate) with the installer steps as RUN steps run as root, and GET
// /templates/{id}/builds/{build}/status?logsOffset=n reports its state and log entries
// until it is ready. The name makes builds idempotent across restarts: a template of
// that name with a ready build is reused. Sessions are sandboxes of that template.

const templatePrefix = "hangar-env-"

type templateStep struct {
	Type  string   `json:"type"`
	Args  []string `json:"args"`
	Force bool     `json:"force"`
}

type buildStatusJSON struct {
	Status     string `json:"status"` // building, waiting, ready, error
	LogEntries []struct {
		Message string `json:"message"`
		Level   string `json:"level"`
	} `json:"logEntries"`
	Reason *struct {
		Message string `json:"message"`
		Step    string `json:"step"`
	} `json:"reason"`
}

// Build implements provider.Builder.
func (p *Provider) Build(ctx context.Context, spec provider.BuildSpec) (string, error) {
	if err := cloud.CheckBuild("e2b", spec); err != nil {
		return "", err
	}
	log := spec.Log
	if log == nil {
		log = io.Discard
	}
	cloud.NoteNetwork(log, "e2b", spec, false)
	name := templatePrefix + spec.Key
	fail := func(err error) (string, error) { return "", fmt.Errorf("e2b build %s: %w", spec.Key, err) }
	ready, err := p.templateReady(ctx, name)
	if err != nil {
		return fail(err)
	}
	if ready {
		fmt.Fprintf(log, "==> template %s already built\n", name)
		return name, nil
	}
	fmt.Fprintf(log, "==> building template %s from %s: %s\n", name, p.cfg.Template, provider.Describe(spec.Packages))
	var created struct {
		TemplateID string `json:"templateID"`
		BuildID    string `json:"buildID"`
	}
	if err := p.api.JSON(ctx, http.MethodPost, "/v3/templates", nil, map[string]any{"name": name}, &created); err != nil {
		return fail(fmt.Errorf("create the template: %w", err))
	}
	steps := []templateStep{}
	installs := cloud.InstallSteps(spec.Packages)
	for _, s := range installs {
		steps = append(steps, templateStep{Type: "RUN", Args: []string{s.Line(), "root"}})
	}
	buildPath := "/templates/" + url.PathEscape(created.TemplateID) + "/builds/" + url.PathEscape(created.BuildID)
	if err := p.api.JSON(ctx, http.MethodPost, "/v2"+buildPath, nil,
		map[string]any{"fromTemplate": p.cfg.Template, "steps": steps, "force": false}, nil); err != nil {
		return fail(fmt.Errorf("start the build: %w", err))
	}
	sw := &cloud.StepWriter{W: log}
	st, err := p.followBuild(ctx, buildPath, sw)
	if err != nil {
		return fail(err)
	}
	if st.Status != "ready" {
		what, reason := sw.Last(), ""
		if st.Reason != nil {
			reason = st.Reason.Message
			// The failed step's number, when E2B names it, says which installer failed.
			if i, err := strconv.Atoi(st.Reason.Step); err == nil && i >= 1 && i <= len(installs) {
				what = installs[i-1].Name
			}
		}
		if what == "" {
			return fail(fmt.Errorf("the template build failed (%s: %s); see the build log", st.Status, reason))
		}
		return fail(fmt.Errorf("%s failed (%s); see the build log", what, reason))
	}
	fmt.Fprintf(log, "==> template %s ready\n", name)
	return name, nil
}

// templateReady reports whether the template name exists with a ready build.
func (p *Provider) templateReady(ctx context.Context, name string) (bool, error) {
	var alias struct {
		TemplateID string `json:"templateID"`
	}
	err := p.api.JSON(ctx, http.MethodGet, "/templates/aliases/"+url.PathEscape(name), nil, nil, &alias)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	var tpl struct {
		Builds []struct {
			Status string `json:"status"`
		} `json:"builds"`
	}
	if err := p.api.JSON(ctx, http.MethodGet, "/templates/"+url.PathEscape(alias.TemplateID), nil, nil, &tpl); err != nil {
		return false, err
	}
	for _, b := range tpl.Builds {
		if b.Status == "ready" || b.Status == "uploaded" {
			return true, nil
		}
	}
	return false, nil
}

// followBuild polls the build's status, writing new log entries to log, until it ended.
func (p *Provider) followBuild(ctx context.Context, buildPath string, log io.Writer) (buildStatusJSON, error) {
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	offset := 0
	for {
		var st buildStatusJSON
		if err := p.api.JSON(ctx, http.MethodGet, buildPath+"/status", url.Values{"logsOffset": {strconv.Itoa(offset)}}, nil, &st); err != nil {
			return st, err
		}
		for _, e := range st.LogEntries {
			fmt.Fprintln(log, e.Message)
		}
		offset += len(st.LogEntries)
		if st.Status != "building" && st.Status != "waiting" {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}

var _ provider.Builder = (*Provider)(nil)
