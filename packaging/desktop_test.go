package packaging

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGuestDesktopHandlesTandemLinks: the Guest's desktop entry registers
// the tandem:// scheme (the Portal's Remote control) and passes the link
// as one argument to "tandem-guest open"; desktop-file-validate accepts it
// when installed.
func TestGuestDesktopHandlesTandemLinks(t *testing.T) {
	const path = "linux/guest/tandem-guest.desktop"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	if keys["Exec"] != "tandem-guest open %u" {
		t.Errorf("Exec=%q", keys["Exec"])
	}
	if !strings.Contains(";"+keys["MimeType"], ";x-scheme-handler/tandem;") {
		t.Errorf("MimeType=%q", keys["MimeType"])
	}
	if v, err := exec.LookPath("desktop-file-validate"); err == nil {
		if out, err := exec.Command(v, path).CombinedOutput(); err != nil {
			t.Errorf("desktop-file-validate: %v\n%s", err, out)
		}
	}
}
