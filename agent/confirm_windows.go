package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/sys/windows"
)

// DesktopConfirmUI asks the user at the console.
func DesktopConfirmUI(log *slog.Logger, _ string) ConfirmUI {
	return DesktopConfirmUIOn(log, thisDesktop(log))
}

// DesktopConfirmUIOn asks the user of the console session desk finds,
// with a Yes/No message box on that session's desktop (WTSSendMessage,
// which the service may call from session 0). No is the default button
// and the box times out with the prompt's deadline: default deny. Not run
// in this project's CI (Linux); it cross-compiles.
func DesktopConfirmUIOn(log *slog.Logger, desk func() *Desktop) ConfirmUI {
	return wtsConfirmUI{log: log, desk: desk}
}

type wtsConfirmUI struct {
	log  *slog.Logger
	desk func() *Desktop
}

func (u wtsConfirmUI) Ask(ctx context.Context, r ConfirmRequest) (bool, error) {
	sid, ok := wtsSessionOf(u.desk())
	if !ok {
		return false, errors.New("agent: confirm access: no console session to ask in")
	}
	timeout := ConfirmTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout < time.Second {
		timeout = time.Second // 0 would be a box without a timeout
	}
	title, text := confirmText(r)
	type reply struct {
		id  uint32
		err error
	}
	got := make(chan reply, 1)
	go func() {
		// Whole seconds, rounded up: the box never outlives ctx by more
		// than a second, and never closes before it.
		id, err := wtsMessage(sid, title, text,
			windows.MB_YESNO|windows.MB_ICONWARNING|windows.MB_DEFBUTTON2|windows.MB_TOPMOST|windows.MB_SETFOREGROUND,
			(timeout + time.Second - 1).Truncate(time.Second), true)
		got <- reply{id, err}
	}()
	select {
	case <-ctx.Done():
		// The emailed answer came first, or the session ended: the box
		// stays until its own timeout, and its answer no longer counts.
		return false, ctx.Err()
	case rp := <-got:
		switch {
		case rp.err != nil:
			return false, rp.err
		case rp.id == idYes:
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return true, nil
		case rp.id == idTimeout:
			<-ctx.Done() // rounded up: ctx ends within the second
			return false, ctx.Err()
		}
		return false, nil // No, or the box was closed
	}
}
