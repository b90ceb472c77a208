package relay

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
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
