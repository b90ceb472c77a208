package agent

import (
	"encoding/hex"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// SpawnConsoleHelper starts exe with args in the active console session as
// its logged-on user, on that user's interactive desktop (winsta0\default),
// and writes the hex secret to its standard input, so it never appears on
// a command line. The service runs as LocalSystem, which WTSQueryUserToken
// requires. ErrNoDesktop: nobody is logged on at the console.
//
// Not run in this project's CI (Linux): it cross-compiles, and the bridge
// it feeds is tested with a real X desktop behind it.
func SpawnConsoleHelper(exe string, args []string, secret []byte) error {
	sid := windows.WTSGetActiveConsoleSessionId()
	if sid == wtsNoSession {
		return ErrNoDesktop // no session attached to the console (switching users)
	}
	primary, err := consoleUserToken(sid)
	if err != nil {
		return err
	}
	defer primary.Close()
	var env *uint16
	if err := windows.CreateEnvironmentBlock(&env, primary, false); err != nil {
		return fmt.Errorf("agent: the console user's environment: %w", err)
	}
	defer windows.DestroyEnvironmentBlock(env)

	// The helper's standard input: inheritable read end, our write end not.
	sa := windows.SecurityAttributes{InheritHandle: 1}
	sa.Length = uint32(unsafe.Sizeof(sa))
	var r, w windows.Handle
	if err := windows.CreatePipe(&r, &w, &sa, 0); err != nil {
		return fmt.Errorf("agent: helper pipe: %w", err)
	}
	defer windows.CloseHandle(w)
	if err := windows.SetHandleInformation(w, windows.HANDLE_FLAG_INHERIT, 0); err != nil {
		windows.CloseHandle(r)
		return err
	}
	si := windows.StartupInfo{Desktop: windows.StringToUTF16Ptr(`winsta0\default`),
		Flags: windows.STARTF_USESTDHANDLES, StdInput: r}
	si.Cb = uint32(unsafe.Sizeof(si))
	var pi windows.ProcessInformation
	cmdline := windows.ComposeCommandLine(append([]string{exe}, args...))
	err = windows.CreateProcessAsUser(primary, windows.StringToUTF16Ptr(exe), windows.StringToUTF16Ptr(cmdline),
		nil, nil, true, windows.CREATE_UNICODE_ENVIRONMENT|windows.CREATE_NO_WINDOW, env, nil, &si, &pi)
	windows.CloseHandle(r)
	if err != nil {
		return fmt.Errorf("agent: starting the desktop helper in session %d: %w", sid, err)
	}
	windows.CloseHandle(pi.Thread)
	windows.CloseHandle(pi.Process)
	line := []byte(hex.EncodeToString(secret) + "\n")
	var n uint32
	if err := windows.WriteFile(w, line, &n, nil); err != nil || int(n) != len(line) {
		return fmt.Errorf("agent: handing the helper its secret: %v", err)
	}
	return nil
}
