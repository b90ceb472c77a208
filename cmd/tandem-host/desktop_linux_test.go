package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay"
)

// TestRunFindsDesktop runs the real binary as the service runs it: root,
// no DISPLAY, no XAUTHORITY. An Xvfb that admits only its cookie holders
// stands for the console's X server and a process of nobody's with
// DISPLAY and XAUTHORITY for the user's session (no logind here, so the
// fallback scan finds them). The Host must report nobody as the logged-in
// user and the screen's monitor, which it can only read through a capture
// opened with the discovered cookie.
func TestRunFindsDesktop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, as the service runs")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	xvfb, err := exec.LookPath("Xvfb")
	if err != nil {
		t.Skip("no Xvfb")
	}
	// The X server, with a cookie file of its own and one for the user.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cookie := make([]byte, 16)
	_, _ = rand.Read(cookie)
	var auth []byte
	for _, f := range [][]byte{nil, nil, []byte("MIT-MAGIC-COOKIE-1"), cookie} {
		auth = binary.BigEndian.AppendUint16(auth, uint16(len(f)))
		auth = append(auth, f...)
	}
	auth = append([]byte{0xff, 0xff}, auth...) // FamilyWild, any display
	serverAuth, userAuth := filepath.Join(dir, "server.auth"), filepath.Join(dir, "user.Xauthority")
	if err := os.WriteFile(serverAuth, auth, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(userAuth, auth, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(userAuth, 65534, 65534); err != nil { // the user's own cookie file
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	x := exec.Command(xvfb, "-displayfd", "3", "-auth", serverAuth, "-screen", "0", "640x480x24", "-noreset", "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w}
	x.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := x.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { _ = syscall.Kill(-x.Process.Pid, syscall.SIGTERM); _ = x.Wait() })
	line, _ := bufio.NewReader(io.LimitReader(r, 32)).ReadString('\n')
	r.Close()
	if _, err := strconv.Atoi(strings.TrimSpace(line)); err != nil {
		t.Fatalf("Xvfb did not start: %q", line)
	}
	display := ":" + strings.TrimSpace(line)
	sess := exec.Command("sleep", "600")
	sess.Env = []string{"DISPLAY=" + display, "XAUTHORITY=" + userAuth, "USER=nobody", "HOME=/nonexistent"}
	sess.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := sess.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Process.Kill(); _ = sess.Wait() })

	bin := buildHost(t)
	url, adm := startRelay(t)
	ctx := context.Background()
	_, key, err := adm.CreatePackage(ctx, relay.PackageSpec{Name: "desk"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cfg")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=/root"} // what a service gets: no DISPLAY, no XAUTHORITY
	enroll := exec.Command(bin, "enroll", "--relay", url, "--key", key, "--config", cfg)
	enroll.Env = env
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	var logs strings.Builder
	run := exec.Command(bin, "run", "--config", cfg, "--log-level", "debug")
	run.Env, run.Stderr = env, &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Process.Kill(); _ = run.Wait() })

	deadline := time.Now().Add(60 * time.Second)
	for {
		devs, err := adm.Devices(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(devs) == 1 && devs[0].LoggedInUser == "nobody" && strings.Contains(string(devs[0].Monitors), `"width":640`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("devices %+v\nhost log:\n%s", devs, logs.String())
		}
		time.Sleep(100 * time.Millisecond) // polling the relay's record of an external process
	}
}
