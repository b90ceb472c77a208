// Package xext opens X connections and initializes X extensions on them
// without xgb's data race.
//
// Each xgb extension's Init writes process-wide tables (xgb.NewEventFuncs,
// xgb.NewErrorFuncs) that every connection's reader goroutine reads for each
// event and error it decodes. Initializing an extension on one connection
// while another is live is therefore a data race (seen under -race with two
// sessions on one Host: capture's RANDR against the clipboard's reader). So
// Dial registers every extension Tandem uses once, on the process's first
// connection, before it is handed out; later connections only record their
// opcodes. Every xgb connection of the process must come from Dial or Prime.
package xext

import (
	"fmt"
	"sync"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/damage"
	"github.com/jezek/xgb/dpms"
	"github.com/jezek/xgb/randr"
	"github.com/jezek/xgb/screensaver"
	"github.com/jezek/xgb/shm"
	"github.com/jezek/xgb/xfixes"
	"github.com/jezek/xgb/xproto"
)

// The extensions Tandem uses, by their X names, with xgb's registration.
var known = []struct {
	name string
	init func(*xgb.Conn) error
}{
	{"RANDR", randr.Init},
	{"MIT-SHM", shm.Init},
	{"XFIXES", xfixes.Init},
	{"DAMAGE", damage.Init},
	{"DPMS", dpms.Init},
	{"MIT-SCREEN-SAVER", screensaver.Init},
}

var (
	mu     sync.Mutex
	primed bool
	// registered: the event and error bases each extension's tables were
	// registered at; a connection whose server puts it elsewhere registers
	// again (a rare second X server; then the race xgb has is back).
	registered = map[string][2]byte{}
)

// Dial opens display ("" = $DISPLAY) like xgb.NewConnDisplay and primes it.
func Dial(display string) (*xgb.Conn, error) {
	c, err := xgb.NewConnDisplay(display)
	if err != nil {
		return nil, err
	}
	Prime(c)
	return c, nil
}

// Prime registers every known extension's tables on the process's first
// connection; call it on connections made without Dial before using them.
func Prime(c *xgb.Conn) {
	mu.Lock()
	defer mu.Unlock()
	if primed {
		return
	}
	primed = true
	for _, k := range known {
		r, err := xproto.QueryExtension(c, uint16(len(k.name)), k.name).Reply()
		if err != nil || !r.Present {
			continue
		}
		if k.init(c) == nil {
			registered[k.name] = [2]byte{r.FirstEvent, r.FirstError}
		}
	}
}

// Init makes extension name usable on c: init is the xgb package's Init
// (randr.Init, ...). It errors when the server lacks the extension.
func Init(c *xgb.Conn, name string, init func(*xgb.Conn) error) error {
	r, err := xproto.QueryExtension(c, uint16(len(name)), name).Reply()
	if err != nil {
		return err
	}
	if !r.Present {
		return fmt.Errorf("the X server has no %s extension", name)
	}
	mu.Lock()
	defer mu.Unlock()
	if at, ok := registered[name]; ok && at == [2]byte{r.FirstEvent, r.FirstError} {
		c.ExtLock.Lock()
		c.Extensions[name] = r.MajorOpcode
		c.ExtLock.Unlock()
		return nil
	}
	if err := init(c); err != nil {
		return err
	}
	registered[name] = [2]byte{r.FirstEvent, r.FirstError}
	return nil
}
