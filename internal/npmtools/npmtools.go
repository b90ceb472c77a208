// Package npmtools finds the Node.js tools the tests run (@redocly/cli,
// axe-core), installed by scripts/npm-tools.sh into $TANDEM_NPM_DIR
// (default ~/.cache/tandem-npm). The relay never needs Node at run time.
package npmtools

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Dir is where scripts/npm-tools.sh installs.
func Dir() string {
	if d := os.Getenv("TANDEM_NPM_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "tandem-npm")
}

// Require returns the path of rel inside Dir()/node_modules. When it (or
// node) is missing the test fails under CI and is skipped otherwise.
func Require(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(), "node_modules", rel)
	_, err := os.Stat(p)
	if _, nerr := exec.LookPath("node"); nerr != nil && err == nil {
		err = nerr
	}
	if err != nil {
		msg := "npm tool " + rel + " missing (" + err.Error() + "): run scripts/deps.sh test, or scripts/npm-tools.sh"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}
