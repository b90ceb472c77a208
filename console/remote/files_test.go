package remote

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// panelWindow is the part of a window the files panel uses, with a
// pumped UI queue; transfers are stand-in functions here (the real ones
// run in TestWindowDrivesARealHost).
func panelWindow(t *testing.T) (*window, *uiQueue) {
	t.Helper()
	test.NewTempApp(t)
	q := newUIQueue()
	w := &window{do: q.do, banner: widget.NewLabel(""), log: slog.New(slog.DiscardHandler)}
	w.bannerB = container.NewStack(w.banner)
	w.ctx, w.cancel = context.WithCancel(context.Background())
	t.Cleanup(w.cancel)
	w.files = newFilesPanel(w)
	w.win = test.NewTempWindow(t, w.files.root)
	return w, q
}

func TestTransferProgressAndCancel(t *testing.T) {
	w, q := panelWindow(t)
	half := make(chan struct{})
	row := w.files.start("↓ big.iso", func(ctx context.Context, o guest.TransferOptions) error {
		o.Progress(50, 100)
		close(half)
		<-ctx.Done() // a transfer in flight until cancelled
		return ctx.Err()
	}, nil, false)
	<-half
	q.until(t, "half the progress", func() bool { return row.bar.Value == 0.5 })
	if row.cancel.Disabled() {
		t.Fatal("a running transfer cannot be cancelled")
	}
	test.Tap(row.cancel)
	if err := <-row.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled transfer ended with %v", err)
	}
	q.pump()
	if row.label.Text != "↓ big.iso — cancelled" || !row.cancel.Disabled() || row.bar.Value != 0.5 {
		t.Fatalf("row: %q, cancel enabled %v, bar %v", row.label.Text, !row.cancel.Disabled(), row.bar.Value)
	}
	if len(w.files.transfers.Objects) != 1 {
		t.Fatalf("%d transfer rows", len(w.files.transfers.Objects))
	}
}

func TestTransferFailureAndRefusedOverwrite(t *testing.T) {
	w, q := panelWindow(t)
	row := w.files.start("↓ a.txt", func(context.Context, guest.TransferOptions) error {
		return &wire.Error{Code: wire.ErrCodeNotFound, Message: "no such file"}
	}, nil, false)
	<-row.done
	q.pump()
	if row.label.Text != "↓ a.txt — failed: no such file" {
		t.Fatalf("row: %q", row.label.Text)
	}
	replaced := 0
	row = w.files.start("↑ b.txt", func(context.Context, guest.TransferOptions) error {
		return &wire.Error{Code: wire.ErrCodeExists, Message: "b.txt exists"}
	}, func() { replaced++ }, false)
	<-row.done
	q.pump()
	if row.label.Text != "↑ b.txt — not replaced" {
		t.Fatalf("row: %q", row.label.Text)
	}
	pressDialogButton(t, w, "Yes")
	if replaced != 1 {
		t.Fatalf("confirming started %d replacements", replaced)
	}
}

// Refused input shows once per reason in a row; toolbar requests' own
// refusals are left to the requests.
func TestRefusalNotices(t *testing.T) {
	w, _ := panelWindow(t)
	w.bannerB.Hide()
	denied := &wire.Error{Code: wire.ErrCodeDenied, Ref: wire.TypeMouseMove, Message: "dropped by the host: not a whitelisted application"}
	w.refused(denied)
	if !w.bannerB.Visible() || w.banner.Text != "The host refused keyboard and mouse input: dropped by the host: not a whitelisted application" {
		t.Fatalf("notice %q (visible %v)", w.banner.Text, w.bannerB.Visible())
	}
	w.banner.SetText("something else")
	w.refused(denied) // the same refusal again while its notice shows: not repeated
	if w.banner.Text != "something else" {
		t.Fatalf("repeated: %q", w.banner.Text)
	}
	w.bannerB.Hide()
	w.refused(&wire.Error{Code: wire.ErrCodeDenied, Ref: wire.TypeChat, Message: "no chat"})
	if w.bannerB.Visible() {
		t.Fatal("a chat refusal shown as an input refusal")
	}
	w.refused(denied) // dismissed, then refused again: shown again
	if !w.bannerB.Visible() {
		t.Fatal("a new refusal after dismissing is not shown")
	}
}
