package relay

import (
	"context"
	"net/http"
	"testing"

	"github.com/coder/websocket"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store/storetest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestOnDemandAcrossNodes: an OnDemand agent on node A, its technician on
// node B. The start through B reaches the agent's grant on A; the
// signals cross; the technician leaving ends the session, kills the key
// and disconnects the agent on A. A key rejected through A disconnects its
// agent on B.
func TestOnDemandAcrossNodes(t *testing.T) {
	e := newODEnv(t, withDB(storetest.Postgres(t)))
	b := joinEnv(t, e.env)

	o := e.create(e.tok)
	d, _ := e.join(o.Key)
	w := e.online(d) // on A
	defer w.conn.CloseNow()
	status, body := b.do("POST", "/api/v1/sessions", e.tok, wire.SessionRequest{OnDemand: o.Key})
	if status != http.StatusCreated {
		t.Fatalf("start through B: %d %s", status, body)
	}
	var sr wire.SessionResponse
	decode(t, body, &sr)
	g := w.expect(wire.SigGrant)
	grant, err := policy.Verify(g.Grant, e.srv.PublicKey(), d.id, e.clock.Now())
	if err != nil || grant.SessionID != sr.SessionID || !grant.ConfirmLocal {
		t.Fatalf("grant on A: %+v %v", grant, err)
	}
	gw, _, err := b.dial(sr.SignalURL, e.tok)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.conn.CloseNow()
	gw.expect(wire.SigReady)
	gw.send(&wire.Signal{Type: wire.SigOffer, SDP: "v=0 offer"})
	if of := w.expect(wire.SigOffer); of.SDP != "v=0 offer" || of.Session != sr.SessionID {
		t.Fatalf("offer on A: %+v", of)
	}
	w.send(&wire.Signal{Type: wire.SigAnswer, Session: sr.SessionID, SDP: "v=0 answer"})
	if a := gw.expect(wire.SigAnswer); a.SDP != "v=0 answer" {
		t.Fatalf("answer on B: %+v", a)
	}
	gw.conn.Close(websocket.StatusNormalClosure, "technician closed the window")
	w.expect(wire.SigBye, "guest_left")
	expectOver(t, w)
	e.expectRefusedOver(d)
	b.expectRefusedOverOn(t, d)

	// Rejected through A while its agent waits on B.
	o2 := e.create(e.tok)
	d2, _ := e.join(o2.Key)
	w2 := b.online(d2)
	defer w2.conn.CloseNow()
	if status, body := e.do("POST", "/api/v1/ondemand/"+o2.Key+"/reject", e.tok, nil); status != http.StatusNoContent {
		t.Fatalf("reject through A: %d %s", status, body)
	}
	expectOver(t, w2)
	if _, err := b.srv.Store().Device(context.Background(), d2.id); err == nil {
		t.Fatal("the ephemeral device outlived the reject")
	}
}

// expectRefusedOverOn: a handshake as d on this node is refused as over.
func (e *env) expectRefusedOverOn(t *testing.T, d device) {
	t.Helper()
	w, first := e.agent(d)
	if first.Type != wire.SigError || first.Code != wire.CodeOnDemandOver {
		t.Fatalf("handshake after the end: %s{%s %s}, want error %s", first.Type, first.Code, first.Message, wire.CodeOnDemandOver)
	}
	w.expectClosed()
}
