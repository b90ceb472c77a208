package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/relayurl"
	"github.com/tandem-rc/tandem/internal/version"
)

// runSetup is the double-clicked online installer: it asks for
// administrator rights (UAC) if needed, copies itself to
// %ProgramFiles%\Tandem (where the MSI installs too), enrolls with the
// package's key and installs and starts the service.
func runSetup(relayURL, key string) int {
	if !installer.IsAdmin() {
		if err := elevate(); err != nil {
			fmt.Fprintln(os.Stderr, "Tandem Host setup needs administrator rights:", err)
			pause()
			return 1
		}
		return 0 // the elevated copy carries on in its own window
	}
	fmt.Printf("Tandem Host %s setup\nrelay: %s\n\n", version.Version, relayURL)
	err := setup(relayURL, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "\nSETUP FAILED:", err)
	}
	pause()
	if err != nil {
		return 1
	}
	return 0
}

func setup(relayURL, key string) error {
	// A double-clicked installer has no --insecure-http: plain http off
	// this machine is refused (the command line's install accepts it).
	if err := relayurl.Check(relayURL, false); err != nil {
		return err
	}
	dir, err := installer.SystemConfigDir()
	if err != nil {
		return err
	}
	pf := os.Getenv("ProgramFiles")
	if pf == "" {
		pf = `C:\Program Files`
	}
	dst := filepath.Join(pf, "Tandem", "tandem-host.exe")
	sv := &installer.Service{ConfigDir: dir, Executable: dst, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	_ = sv.Stop() // an upgrade: the running service holds the old binary
	if err := copySelf(dst); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inv := agent.DefaultInventory(version.Version, nil)()
	c, err := sv.Install(ctx, &http.Client{Timeout: 30 * time.Second}, relayURL, key, inv)
	if err != nil {
		return err
	}
	fmt.Printf("Installed in %s and enrolled as device %s.\nThe Tandem Host service is running.\n", filepath.Dir(dst), c.DeviceID)
	if c.State == "pending" {
		fmt.Println("An administrator must approve this computer before anyone can connect.")
	}
	return nil
}

// copySelf copies this executable to dst through a temporary file, so a
// failed copy never leaves a truncated binary.
func copySelf(dst string) error {
	src, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "tandem-host-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// elevate starts this executable again through UAC's "runas" verb.
func elevate() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	verb, _ := windows.UTF16PtrFromString("runas")
	file, err := windows.UTF16PtrFromString(exe)
	if err != nil {
		return err
	}
	return windows.ShellExecute(0, verb, file, nil, nil, windows.SW_NORMAL)
}

// pause keeps the console window open until the user has read it.
func pause() {
	fmt.Print("\nPress Enter to close this window.")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}
