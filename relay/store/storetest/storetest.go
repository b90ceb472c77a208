// Package storetest gives tests a fresh database on each engine the store
// supports: a SQLite file in the test's temporary directory always, and a
// PostgreSQL schema of its own when TANDEM_TEST_POSTGRES holds the URL of a
// server (scripts/postgres.sh starts one; scripts/test.sh sets it). With
// CI=true the variable must be set: a PostgreSQL test fails rather than
// skips.
//
// Only tests import this package.
package storetest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

// EnvPostgres names the variable holding the test server's URL.
const EnvPostgres = "TANDEM_TEST_POSTGRES"

// Backend is one engine: Fresh returns a --db value naming an empty
// database that no other test uses.
type Backend struct {
	Name  string // "sqlite" or "postgres"
	Fresh func(t testing.TB) string
}

// SQLite is a new file in t.TempDir().
func SQLite(t testing.TB) string {
	return filepath.Join(t.TempDir(), "tandem.db")
}

// Backends lists SQLite and PostgreSQL. PostgreSQL's Fresh skips the test
// when no server is configured (fails under CI=true).
func Backends() []Backend {
	return []Backend{{"sqlite", SQLite}, {"postgres", Postgres}}
}

// Run runs fn as a subtest on each backend, named after it.
func Run(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

var (
	adminOnce sync.Once
	adminDB   *sql.DB
	adminErr  error
)

// Postgres creates a schema of its own for t in the test server's database
// and returns a URL whose search_path is that schema; the schema is
// dropped when t ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set under CI=true: the PostgreSQL store tests must run (scripts/test.sh starts a server)", EnvPostgres)
		}
		t.Skipf("%s not set: no PostgreSQL to test against (scripts/postgres.sh start)", EnvPostgres)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	adminOnce.Do(func() {
		adminDB, adminErr = sql.Open("pgx", base)
		if adminErr == nil {
			adminDB.SetMaxOpenConns(2)
			adminErr = adminDB.Ping()
		}
	})
	if adminErr != nil {
		t.Fatalf("PostgreSQL at %s: %v", EnvPostgres, adminErr)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := adminDB.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := adminDB.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
