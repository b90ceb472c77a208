package relay

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/relay/api"
)

// dbPath is the relay's SQLite file.
func (e *env) dbPath() string {
	if e.db != "" {
		return e.db
	}
	return e.dir + "/" + DBFile
}

// dumpAll is every row of every table, to prove a refused request wrote
// nothing at all.
func (e *env) dumpAll() string {
	e.t.Helper()
	db, err := sql.Open("sqlite", e.dbPath())
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		e.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := db.Query(`SELECT * FROM "` + tbl + `"`)
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			lines = append(lines, fmt.Sprint(vals...))
		}
		rows.Close()
		fmt.Fprintf(&b, "%s: %d rows\n%s\n", tbl, len(lines), strings.Join(sortedCopy(lines), "\n"))
	}
	return b.String()
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestBadInputWritesNothing sends every route that takes a body malformed
// bodies — not JSON, the wrong JSON type, unknown fields, more than the
// body limit — with the owner's token and real ids: each answer is a 4xx
// with an error code, and the database is left exactly as it was.
func TestBadInputWritesNothing(t *testing.T) {
	e := newSessionEnv(t)
	acct := e.dev.resp.AccountID
	bodies := map[string][]byte{
		"not JSON":      []byte(`{"name": "unterminated`),
		"wrong type":    []byte(`["an", "array"]`),
		"unknown field": []byte(`{"surely_not_a_field_of_any_request": 1}`),
		"too large":     []byte(`{"name": "` + strings.Repeat("x", api.MaxBodySize) + `"}`),
	}
	// The agent's connection is recorded (last seen, audit) just after its
	// ready: let that land before the snapshot.
	waitFor(t, func() bool { return len(e.audit(EvAgentConnected)) == 1 })
	before := e.dumpAll()
	n := 0
	for _, rt := range e.srv.routeTable() {
		if apiDocs[rt.method+" "+rt.path].req == nil {
			continue // no body to get wrong (GET, DELETE, logout, ...)
		}
		path := strings.NewReplacer("{account}", acct, "{id}", "x", "{member}", "y", "{device}", e.dev.id, "{key}", "123456789").Replace(rt.path)
		for what, body := range bodies {
			status, resp := e.do(rt.method, path, e.tok, body)
			if status < 400 || status >= 500 || !strings.Contains(string(resp), `"code"`) {
				t.Errorf("%s %s with %s: %d %.200s; want a 4xx with a code", rt.method, rt.path, what, status, resp)
			}
		}
		n++
	}
	if after := e.dumpAll(); after != before {
		t.Fatalf("refused requests changed the database:\n--- before\n%.3000s\n--- after\n%.3000s", before, after)
	}
	if n < 30 {
		t.Fatalf("only %d write routes", n)
	}
}
