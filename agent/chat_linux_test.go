package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestZenityChatArgs(t *testing.T) {
	args := zenityChatArgs(ChatMessage{Technician: "Tess_T <t@x>", Text: `<b>bold</b> & C:\new_folder` + "\nline 2"})
	text := args[4]
	if args[3] != "--text" || text != `Tess__T <t@x> writes:`+"\n\n"+`<b>bold</b> & C:\\new__folder`+"\nline 2\n\nYour answer:" {
		t.Fatalf("args %q", args)
	}
}

// A technician's message opens a dialog on the host's X display; what the
// local user types there reaches the technician.
func TestDesktopChatUIReply(t *testing.T) {
	needTool(t, "zenity")
	x := captest.StartX(t, 800, 600)
	fh := startFeatureHost(t, func(o *Options) { o.ChatUI = DesktopChatUI(o.Logger, x.Display) })
	ctl := fh.session(t, "desk", policy.FullSet())[wire.ChannelControl]
	send(t, ctl, &wire.Chat{Seq: 1, Text: `Is the printer <b>fixed</b> & C:\new_folder working?`})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	win, err := x.WaitWindow(ctx, "Tandem: message from Tess Tech")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := x.Command(ctx, "xdotool", "windowfocus", "--sync", win).CombinedOutput(); err != nil {
		t.Fatalf("focus: %v %s", err, out)
	}
	for _, args := range [][]string{{"type", "--window", win, "Yes, it prints again"}, {"key", "--window", win, "Return"}} {
		if out, err := x.Command(ctx, "xdotool", args...).CombinedOutput(); err != nil {
			t.Fatalf("xdotool %v: %v %s", args, err, out)
		}
	}
	if c := recvType[*wire.Chat](t, ctl); c.Text != "Yes, it prints again" || !strings.HasPrefix(c.Text, "Yes") {
		t.Fatalf("the technician got %+v", c)
	}
	if !fh.events.reaches("chat_sent", 1) {
		t.Fatal("the answer was not audited")
	}
}
