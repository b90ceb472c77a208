package relay

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tandem-rc/tandem/internal/npmtools"
)

// TestOpenAPI: the served document is valid OpenAPI (checked by
// kin-openapi), describes every route exactly once, and every route has a
// written summary — a new route without an apiDocs entry fails here.
func TestOpenAPI(t *testing.T) {
	e := newEnv(t)
	status, body := e.do("GET", "/api/v1/openapi.json", "", nil)
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatalf("not an OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}
	routes := e.srv.routeTable()
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.method + " " + rt.path
		d, ok := apiDocs[key]
		if !ok || d.summary == "" || d.auth == "" {
			t.Errorf("route %s has no apiDocs entry with a summary and auth", key)
		}
		if doc.Paths.Find(rt.path) == nil || doc.Paths.Find(rt.path).GetOperation(rt.method) == nil {
			t.Errorf("route %s is not in the document", key)
		}
		seen[key] = true
	}
	for key := range apiDocs {
		if !seen[key] {
			t.Errorf("apiDocs describes %s, which is not a route", key)
		}
	}
	// The schemas are the wire types': spot-check one.
	var raw map[string]any
	json.Unmarshal(body, &raw)
	sch := doc.Components.Schemas["Assignment"]
	if sch == nil || sch.Value.Properties["user_groups"] == nil || sch.Value.Properties["schedule"].Ref != "#/components/schemas/Schedule" {
		t.Fatalf("Assignment schema %+v", sch)
	}
}

// TestOpenAPIRedoclyLint runs `redocly lint` (recommended rules) on the
// served document: no error and no warning, so generated clients know the
// servers, the license and every error answer with its body.
func TestOpenAPIRedoclyLint(t *testing.T) {
	cli := npmtools.Require(t, "@redocly/cli/bin/cli.js")
	e := newEnv(t)
	status, body := e.do("GET", "/api/v1/openapi.json", "", nil)
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "openapi.json")
	if err := os.WriteFile(doc, body, 0o600); err != nil {
		t.Fatal(err)
	}
	// No redocly.yaml of the project's: recommended rules, every
	// warning counted; no telemetry, no update check.
	cfg := filepath.Join(dir, "redocly.yaml")
	os.WriteFile(cfg, []byte("extends:\n  - recommended\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", cli, "lint", "--config", cfg, "--max-problems", "1000", "--format", "json", doc)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res struct {
		Totals   struct{ Errors, Warnings, Ignored int }
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string
			Message  string
			Location []struct {
				Pointer string
			}
		}
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("redocly lint: %v, output not JSON (%v):\n%s\n%s", err, jerr, out, stderr.String())
	}
	// The only warnings allowed: operations that answer no 4xx at all
	// (no parameters, no body, no auth, no throttle).
	no4xx := map[string]bool{"#/paths/~1api~1v1~1health/get/responses": true,
		"#/paths/~1api~1v1~1relay/get/responses": true, "#/paths/~1api~1v1~1openapi.json/get/responses": true}
	for _, p := range res.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		if p.RuleID == "operation-4xx-response" && no4xx[where] {
			continue
		}
		t.Errorf("redocly %s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	if res.Totals.Errors != 0 {
		t.Errorf("redocly lint: %d errors (%v)", res.Totals.Errors, err)
	}
}
