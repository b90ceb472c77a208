package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestLinuxPowerCommand(t *testing.T) {
	for a, want := range map[PowerAction]string{
		PowerLogout:   "loginctl terminate-session 7",
		PowerLock:     "loginctl lock-session 7",
		PowerRestart:  "systemctl reboot",
		PowerShutdown: "systemctl poweroff",
	} {
		argv, err := linuxPowerCommand(a, "7")
		if err != nil || strings.Join(argv, " ") != want {
			t.Errorf("%s: %q, %v; want %q", a, argv, err, want)
		}
	}
	if _, err := linuxPowerCommand(PowerCtrlAltDel, "7"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Ctrl+Alt+Del: %v", err)
	}
	if _, err := linuxPowerCommand("hibernate", ""); err == nil {
		t.Error("unknown action accepted")
	}
}

// The commands a linuxPower runs, with a recorder in place of the real
// runner: running them would lock or reboot this machine.
func TestLinuxPowerRuns(t *testing.T) {
	t.Setenv("XDG_SESSION_ID", "")
	var ran []string
	active := "c2\n"
	p := linuxPower{run: func(_ context.Context, argv []string) (string, error) {
		ran = append(ran, strings.Join(argv, " "))
		if argv[1] == "show-seat" {
			return active, nil
		}
		return "", nil
	}}
	ctx := context.Background()
	for _, a := range []PowerAction{PowerLock, PowerLogout, PowerRestart, PowerShutdown} {
		if err := p.Do(ctx, a); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	want := []string{
		"loginctl show-seat seat0 --property=ActiveSession --value", "loginctl lock-session c2",
		"loginctl show-seat seat0 --property=ActiveSession --value", "loginctl terminate-session c2",
		"systemctl reboot", "systemctl poweroff",
	}
	if fmt.Sprint(ran) != fmt.Sprint(want) {
		t.Fatalf("ran %q\nwant %q", ran, want)
	}

	// No one at the screen: lock and log out say so and run nothing more.
	active, ran = "\n", nil
	if err := p.Do(ctx, PowerLock); err == nil || !strings.Contains(err.Error(), "no user session") {
		t.Fatalf("lock without a session: %v", err)
	}
	if len(ran) != 1 {
		t.Fatalf("ran %q", ran)
	}
	// Inside a session (OnDemand), that session is the one.
	t.Setenv("XDG_SESSION_ID", "5")
	ran = nil
	if err := p.Do(ctx, PowerLock); err != nil || fmt.Sprint(ran) != "[loginctl lock-session 5]" {
		t.Fatalf("ran %q, %v", ran, err)
	}
}

// runCommand reports a failing command's own words.
func TestRunCommandError(t *testing.T) {
	_, err := runCommand(context.Background(), []string{"sh", "-c", "echo polkit says no >&2; exit 1"})
	if err == nil || !strings.Contains(err.Error(), "polkit says no") {
		t.Fatalf("error %v", err)
	}
}
