package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/guard"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Actions a session can be requested for (the spec's "Supported actions").
const (
	ActionRemoteControl    = "remote_control"
	ActionFileTransfer     = "file_transfer"
	ActionChat             = "chat"
	ActionRemoteManagement = "remote_management"
)

var actions = []string{ActionRemoteControl, ActionFileTransfer, ActionChat, ActionRemoteManagement}

// decision is the relay's answer to "may this user open this session".
type decision struct {
	Allow       bool
	Permissions policy.Set
	Reason      string // for refusals: shown to the user and audited
	// ConfirmEmail: members of these user groups must allow the session by
	// email first (spec 4.4.10).
	ConfirmEmail []string
	// Whitelist: the only applications the session may see and control;
	// nil: no restriction.
	Whitelist []policy.App
	// ConfirmLocal: the Host must ask its local user first.
	ConfirmLocal bool
	// The exceptions the Host applies with its own state (the relay
	// evaluates as if locked, and as if nobody were logged in).
	ConfirmExceptLocked, ConfirmExceptNoUser     bool
	WhitelistExceptLocked, WhitelistExceptNoUser bool
}

// actionNeeds is the permission without which an action is pointless.
var actionNeeds = map[string]policy.Permission{
	ActionRemoteControl:    policy.ViewScreen,
	ActionFileTransfer:     policy.FileTransfer,
	ActionChat:             policy.Chat,
	ActionRemoteManagement: policy.ExecuteCommand,
}

// decide is the one place where access to a device is decided: the
// account's role assignments, evaluated by the policy package (deny by
// default). Confirmation by email is the relay's to obtain; a whitelist
// and the local user's confirmation go into the grant for the Host to
// enforce (a Host that cannot refuses the session).
func (s *Server) decide(ctx context.Context, u store.User, m store.Membership, d store.Device, action string, now time.Time) decision {
	switch {
	case u.Disabled:
		return decision{Reason: "the user is disabled"}
	case m.AccountID != d.AccountID:
		return decision{Reason: "the user is not a member of the device's account"}
	case m.Disabled:
		return decision{Reason: "the user is disabled in the device's account"}
	}
	model, err := s.models.model(ctx, d.AccountID)
	if err != nil {
		s.log.Error("reading the access model", "account", d.AccountID, "err", err)
		return decision{Reason: "the relay could not read the access rules; try again"}
	}
	dec := policy.Evaluate(model, policy.Request{
		UserID: u.ID, DeviceID: d.ID, ClientType: policy.ClientInstalledGuest, At: now,
		StateUnknown: true, // the Host applies the exceptions itself (see below)
	})
	if !dec.Allowed {
		return decision{Reason: denial(dec)}
	}

	if need := actionNeeds[action]; !dec.Permissions.Has(need) {
		return decision{Reason: fmt.Sprintf("your roles on this device do not include %s", need)}
	}
	// A whitelist and the local user's confirmation ride in the grant: the
	// Host masks everything else and asks first (and refuses the session
	// when it cannot). With email confirmation too, the relay emails while
	// the Host asks, and whichever answer comes first decides.
	// The Host alone knows whether it is locked or has no user: the
	// decision in each state tells it which exceptions every role allows.
	locked := policy.Evaluate(model, policy.Request{UserID: u.ID, DeviceID: d.ID, ClientType: policy.ClientInstalledGuest, At: now, Locked: true})
	noUser := policy.Evaluate(model, policy.Request{UserID: u.ID, DeviceID: d.ID, ClientType: policy.ClientInstalledGuest, At: now, NoUser: true})
	return decision{Allow: true, Permissions: dec.Permissions, ConfirmEmail: dec.Confirm.EmailGroupIDs, Whitelist: dec.Whitelist,
		ConfirmLocal:          dec.Confirm.Local,
		ConfirmExceptLocked:   dec.Confirm.Local && locked.Allowed && !locked.Confirm.Local,
		ConfirmExceptNoUser:   dec.Confirm.Local && noUser.Allowed && !noUser.Confirm.Local,
		WhitelistExceptLocked: dec.Whitelist != nil && locked.Allowed && locked.Whitelist == nil,
		WhitelistExceptNoUser: dec.Whitelist != nil && noUser.Allowed && noUser.Whitelist == nil}
}

// denial summarizes why the evaluator refused: the request-level reason,
// else the first assignment that came closest.
func denial(dec policy.Decision) string {
	for _, r := range dec.Reasons {
		if r.AssignmentID == "" && r.Code != policy.ReasonNoGrant {
			return r.String()
		}
	}
	for _, r := range dec.Reasons {
		if r.AssignmentID != "" {
			return "no role assignment grants access; " + r.String()
		}
	}
	return "no role assignment grants you access to this device"
}

// resolveDevice finds the device ref (an id, or a hostname) names among
// the accounts' devices. Devices of other accounts are not found, exactly
// like missing ones.
func (s *Server) resolveDevice(ctx context.Context, accounts []string, ref string) (store.Device, error) {
	notFound := errf(http.StatusNotFound, api.CodeNotFound, "no device %q in your accounts", ref)
	if len(accounts) == 0 {
		return store.Device{}, notFound
	}
	d, err := s.st.Device(ctx, ref)
	// An OnDemand agent's ephemeral device is no device of the account:
	// it is reached through its OnDemand session only.
	if err == nil && !d.OnDemand && slices.Contains(accounts, d.AccountID) {
		return d, nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Device{}, err
	}
	ds, err := s.st.DevicesByHostname(ctx, accounts, ref)
	if err != nil {
		return store.Device{}, err
	}
	if len(ds) > 1 {
		// A revoked machine that was enrolled again keeps its hostname.
		live := slices.DeleteFunc(slices.Clone(ds), func(d store.Device) bool { return d.State == store.Revoked })
		if len(live) > 0 {
			ds = live
		}
	}
	switch len(ds) {
	case 0:
		return store.Device{}, notFound
	case 1:
		return ds[0], nil
	}
	ae := errf(http.StatusConflict, api.CodeAmbiguous, "%d devices are named %q; use one of their ids", len(ds), ref)
	var ids []string
	for _, d := range ds {
		ae.Candidates = append(ae.Candidates, wire.Ref{ID: d.ID, Name: d.Name()})
		ids = append(ids, d.ID)
	}
	ae.Msg += ": " + strings.Join(ids, ", ")
	return store.Device{}, ae
}

// handleCreateSession is POST /api/v1/sessions: decide, record, sign a
// grant, hand it to the device's agent, and tell the guest where to
// signal.
func (s *Server) handleCreateSession(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	var req wire.SessionRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.OnDemand != "" {
		return s.startOnDemand(w, r, a, req)
	}
	ref := strings.TrimSpace(req.Device)
	if ref == "" || !validText(ref, maxHostname) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "device is required: a device id or hostname")
	}
	action := req.Action
	if action == "" {
		action = ActionRemoteControl
	}
	if !slices.Contains(actions, action) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "unknown action %q; use one of %s", action, strings.Join(actions, ", "))
	}
	ctx := r.Context()
	u := a.User
	ip := remoteIP(r)
	accounts, err := s.activeAccounts(ctx, a)
	if err != nil {
		return err
	}
	d, err := s.resolveDevice(ctx, accounts, ref)
	if err != nil {
		return err
	}
	deny := func(ae *apiError) error {
		s.audit(auditRec{Event: EvSessionDenied, Account: d.AccountID, User: u.ID, Device: d.ID, Remote: ip,
			Detail: map[string]any{"action": action, "reason": ae.Code, "message": ae.Msg}})
		return ae
	}
	switch d.State {
	case store.Pending:
		return deny(errf(http.StatusConflict, api.CodeDevicePending, "device %s is waiting for approval; enroll it first", d.Name()))
	case store.Revoked:
		return deny(errf(http.StatusConflict, api.CodeDeviceRevoked, "device %s is revoked", d.Name()))
	}
	if !s.online(ctx, d.ID) {
		return deny(errf(http.StatusConflict, api.CodeDeviceOffline, "device %s is offline; try again when it is connected", d.Name()))
	}
	ms, err := s.st.Memberships(ctx, u.ID)
	if err != nil {
		return err
	}
	var m store.Membership
	for _, x := range ms {
		if x.AccountID == d.AccountID {
			m = x
		}
	}
	now := s.now()
	dec := s.decide(ctx, u, m, d, action, now)
	if !dec.Allow || dec.Permissions.Empty() {
		reason := dec.Reason
		if reason == "" {
			reason = "no permission on this device"
		}
		return deny(errf(http.StatusForbidden, api.CodeForbidden, "you may not connect to %s: %s", d.Name(), reason))
	}

	useConf := false // an allowed confirmation by email is used up
	if len(dec.ConfirmEmail) > 0 && !dec.ConfirmLocal {
		useConf = true
		if req.Confirmation == "" {
			c, err := s.requestConfirmation(r, u, d, action, dec, "")
			var ae *apiError
			if errors.As(err, &ae) {
				return deny(ae)
			} else if err != nil {
				return err
			}
			writeJSON(w, http.StatusAccepted, wire.SessionResponse{Confirmation: c})
			return nil
		}
	}
	perms := dec.Permissions.Strings()
	expires := now.Add(s.cfg.GrantTTL)
	// The confirmation used, the session row and its event commit
	// together, before the grant goes to the Host.
	var se store.Session
	err = s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) (err error) {
		if useConf {
			if err := tx.UseConfirmation(ctx, req.Confirmation, u.ID, d.ID, action, now); err != nil {
				return err
			}
		}
		se, err = tx.CreateSession(ctx, store.Session{
			AccountID: d.AccountID, UserID: u.ID, DeviceID: d.ID, Action: action, Permissions: perms,
			CreatedAt: now, ExpiresAt: expires,
		})
		if err == nil {
			audit(auditRec{Event: EvSessionRequested, Account: d.AccountID, User: u.ID, Device: d.ID, Remote: ip,
				Detail: map[string]any{"session": se.ID, "action": action, "permissions": perms}})
		}
		return err
	})
	if errors.Is(err, store.ErrDecided) {
		return deny(errf(http.StatusForbidden, api.CodeForbidden, "confirmation %q is not an allowed, unused, unexpired confirmation of this session", req.Confirmation))
	} else if err != nil {
		return err
	}
	var hostICE []policy.ICEServer
	for _, is := range s.iceServers(se.ID, "host", expires) {
		hostICE = append(hostICE, policy.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	token, err := policy.Sign(&policy.Grant{
		Version: policy.GrantVersion, SessionID: se.ID, AccountID: d.AccountID, DeviceID: d.ID,
		User:   policy.GrantUser{ID: u.ID, Email: u.Email, Name: u.Name},
		Action: action, Permissions: perms, IssuedAt: now.Unix(), ExpiresAt: expires.Unix(), ICEServers: hostICE,
		Whitelist: policy.GrantWhitelist(dec.Whitelist), ConfirmLocal: dec.ConfirmLocal,
		ConfirmExceptLocked: dec.ConfirmExceptLocked, ConfirmExceptNoUser: dec.ConfirmExceptNoUser,
		ConfirmEmail:          dec.ConfirmLocal && len(dec.ConfirmEmail) > 0,
		WhitelistExceptLocked: dec.WhitelistExceptLocked, WhitelistExceptNoUser: dec.WhitelistExceptNoUser,
	}, s.ring.Key())
	if err != nil {
		s.endSessionRow(se, "internal_error")
		return fmt.Errorf("signing grant: %w", err)
	}
	ls := &liveSession{id: se.ID, accountID: d.AccountID, userID: u.ID, deviceID: d.ID, expires: expires}
	if !s.openLive(ctx, ls, &wire.Signal{Type: wire.SigGrant, Session: se.ID, Grant: token}) {
		s.endSessionRow(se, "device_offline")
		return deny(errf(http.StatusConflict, api.CodeDeviceOffline, "device %s went offline; try again when it is connected", d.Name()))
	}
	if len(dec.ConfirmEmail) > 0 && dec.ConfirmLocal {
		// The Host asks its local user; the confirming groups are asked by
		// email at the same time, and the first answer decides.
		if _, err := s.requestConfirmation(r, u, d, action, dec, se.ID); err != nil {
			s.log.Warn("confirm access by email not requested; the Host's prompt decides alone", "session", se.ID, "err", err)
		}
	}
	s.log.Info("session requested", "session", se.ID, "user", u.ID, "device", d.ID, "action", action)
	writeJSON(w, http.StatusCreated, s.sessionResponse(se.ID, d.ID, perms, expires))
	s.metrics.SessionSetup(time.Since(start))
	return nil
}

// sessionResponse tells the guest its granted session: where to signal
// and which TURN credentials to use.
func (s *Server) sessionResponse(sessionID, deviceID string, perms []string, expires time.Time) wire.SessionResponse {
	return wire.SessionResponse{
		SessionID: sessionID, DeviceID: deviceID, Permissions: perms, ExpiresAt: expires.Unix(),
		ICEServers: s.iceServers(sessionID, "guest", expires),
		SignalURL:  "/api/v1/sessions/" + sessionID + "/signal",
	}
}

// endSessionRow records the end of a session that never went live.
// Its request was audited, so its end is too, in the same transaction.
func (s *Server) endSessionRow(se store.Session, reason string) {
	ctx, cancel := s.dbctx()
	defer cancel()
	err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		ok, err := tx.EndSession(ctx, se.ID, s.now(), reason)
		if ok {
			audit(auditRec{Event: EvSessionEnded, Account: se.AccountID, User: se.UserID, Device: se.DeviceID,
				Detail: map[string]any{"session": se.ID, "reason": reason}})
		}
		return err
	})
	if err != nil {
		s.log.Warn("ending session", "session", se.ID, "err", err)
		s.metrics.Dropped("session_end")
	}
}

// endOpts says whom endSession tells, and how. An empty code tells nobody.
type endOpts struct {
	agentCode, agentMsg string // bye to the agent
	guestCode, guestMsg string // bye to the guest (then its socket closes)
	// keepOnDemand: the caller deals with the session's OnDemand key
	// (rejecting or expiring it); otherwise the end kills the key.
	keepOnDemand bool
}

// endSession ends a live session once: it records and audits the end,
// then tells the sides opts names and closes the guest's socket. The
// record comes first so that whoever hears the bye sees an ended session.
func (s *Server) endSession(id, reason string, opts endOpts) {
	h := s.hub
	h.mu.Lock()
	ls := h.sessions[id]
	if ls == nil {
		h.mu.Unlock()
		return
	}
	delete(h.sessions, id) // from here on nothing is routed for it
	guest := ls.guest
	h.mu.Unlock()
	defer s.disown(id)

	ctx, cancel := s.dbctx()
	var ok bool
	err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) (err error) {
		if ok, err = tx.EndSession(ctx, id, s.now(), reason); ok {
			audit(auditRec{Event: EvSessionEnded, Account: ls.accountID, User: ls.userID, Device: ls.deviceID,
				Detail: map[string]any{"session": id, "reason": reason}})
		}
		return err
	})
	cancel()
	if err != nil {
		s.log.Warn("ending session", "session", id, "err", err)
		s.metrics.Dropped("session_end")
	} else if ok {
		s.log.Info("session ended", "session", id, "reason", reason)
	}

	h.mu.Lock()
	if opts.agentCode != "" {
		if a := h.agents[ls.deviceID]; a != nil {
			a.send(&wire.Signal{Type: wire.SigBye, Session: id, Code: opts.agentCode, Message: opts.agentMsg})
		}
	}
	if guest != nil {
		if opts.guestCode != "" {
			guest.send(&wire.Signal{Type: wire.SigBye, Session: id, Code: opts.guestCode, Message: opts.guestMsg})
		}
		guest.closeWith(websocket.StatusNormalClosure, "session ended")
	}
	h.mu.Unlock()
	if ls.ondemand != "" && !opts.keepOnDemand {
		// An OnDemand key works for one session: whatever ended it (a bye,
		// a side gone, consent denied, grant expiry), the key is dead.
		s.odSessionOver(ls.ondemand, reason)
	}
}

// routeFromAgent passes an agent's answer, candidate, bye or error to the
// guest of the session it names, if that session is the agent's own.
func (s *Server) routeFromAgent(a *agentConn, sig *wire.Signal) {
	if msg := checkSignal(sig); msg != "" {
		a.send(&wire.Signal{Type: wire.SigError, Session: sig.Session, Code: api.CodeBadRequest, Message: msg})
		return
	}
	out := &wire.Signal{Type: sig.Type, Session: sig.Session, SDP: sig.SDP, Candidate: sig.Candidate,
		Code: sig.Code, Message: sig.Message}
	h := s.hub
	h.mu.Lock()
	ls := h.sessions[sig.Session]
	if ls == nil || ls.deviceID != a.deviceID || h.agents[a.deviceID] != a {
		h.mu.Unlock()
		a.send(&wire.Signal{Type: wire.SigError, Session: sig.Session, Code: "unknown_session",
			Message: "no live session of this device has this id"})
		return
	}
	starting := sig.Type == wire.SigAnswer && !ls.started
	if starting {
		ls.started = true
	}
	h.mu.Unlock()

	// Record the start before the answer reaches the guest, so whoever sees
	// the answer also sees a started session. This agent's signals are
	// handled one at a time, so their order is kept.
	if starting {
		ctx, cancel := s.dbctx()
		var ok bool
		err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) (err error) {
			if ok, err = tx.StartSession(ctx, ls.id, s.now()); ok {
				audit(auditRec{Event: EvSessionStarted, Account: ls.accountID, User: ls.userID, Device: ls.deviceID,
					Detail: map[string]any{"session": ls.id}})
			}
			return err
		})
		cancel()
		if err != nil {
			a.log.Warn("recording session start", "session", ls.id, "err", err)
			s.metrics.Dropped("session_start")
		} else if ok {
			s.log.Info("session started", "session", ls.id)
		}
	}
	if sig.Type == wire.SigBye {
		s.endSession(ls.id, "host_bye", endOpts{guestCode: cmp.Or(sig.Code, "host_bye"), guestMsg: sig.Message})
		return
	}
	h.mu.Lock()
	if h.sessions[ls.id] == ls { // still live
		if ls.guest != nil {
			ls.guest.send(out)
		} else if len(ls.pending) < maxPending {
			ls.pending = append(ls.pending, out)
		} else {
			a.log.Warn("dropping signal for a guest that has not connected", "session", ls.id)
		}
	}
	h.mu.Unlock()
}

// checkSignal validates a routed signal; it returns what is wrong, or "".
func checkSignal(sig *wire.Signal) string {
	switch {
	case sig.Session == "" || len(sig.Session) > maxID:
		return "signal without a session"
	case (sig.Type == wire.SigOffer || sig.Type == wire.SigAnswer) && sig.SDP == "":
		return sig.Type + " without sdp"
	case sig.Type == wire.SigCandidate && len(sig.Candidate) == 0:
		return "candidate without candidate"
	case len(sig.Code) > maxShortText || len(sig.Message) > 1024:
		return "code or message too long"
	}
	return ""
}

// handleSignal is GET /api/v1/sessions/{id}/signal, the guest's WebSocket
// for one session: ready, then offer/candidate/bye to the device and
// answer/candidate/bye/error back.
func (s *Server) handleSignal(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	notFound := errf(http.StatusNotFound, api.CodeNotFound, "no session %q", id)
	if id == "" || len(id) > maxID {
		return notFound
	}
	se, err := s.st.Session(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	} else if err != nil {
		return err
	}
	if se.UserID != a.User.ID {
		return notFound
	}
	if !se.EndedAt.IsZero() {
		return errf(http.StatusConflict, api.CodeSessionEnded, "this session has ended (%s); request a new one", se.EndReason)
	}
	if !s.now().Before(se.ExpiresAt) {
		return errf(http.StatusConflict, api.CodeSessionExpired, "this session was not joined in time; request a new one")
	}
	if !s.begin() {
		return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the relay is shutting down")
	}
	defer s.wg.Done()

	h := s.hub
	h.mu.Lock()
	ls := h.sessions[id]
	switch {
	case ls == nil && s.cl != nil:
		h.mu.Unlock()
		return s.remoteSignal(w, r, se) // its Host may be on another node
	case ls == nil:
		h.mu.Unlock()
		return errf(http.StatusConflict, api.CodeSessionEnded, "this session has ended; request a new one")
	case ls.guest != nil || ls.reserved:
		h.mu.Unlock()
		return errf(http.StatusConflict, api.CodeSessionBusy, "this session already has a guest connected")
	}
	ls.reserved = true
	h.mu.Unlock()

	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.front.OriginHosts(r)})
	if err != nil {
		h.mu.Lock()
		ls.reserved = false
		h.mu.Unlock()
		return nil
	}
	conn.SetReadLimit(wire.MaxSignalSize)
	ip := remoteIP(r)
	g := newPeer(conn, s.log.With("session", id, "remote", ip))
	g.start(s.cfg.PingInterval, s.cfg.PingTimeout)

	h.mu.Lock()
	ls.reserved = false
	live := h.sessions[id] == ls // it may have ended while we upgraded
	if live {
		ls.guest = g
		g.send(&wire.Signal{Type: wire.SigReady, Session: id})
		for _, p := range ls.pending {
			g.send(p)
		}
		ls.pending = nil
	}
	h.mu.Unlock()
	if !live {
		g.send(&wire.Signal{Type: wire.SigBye, Session: id, Code: api.CodeSessionEnded, Message: "the session ended"})
		g.closeWith(websocket.StatusNormalClosure, "session ended")
		s.guestDrain(g)
		g.stop()
		return nil
	}
	g.log.Info("guest connected")

	s.guestLoop(ls.id, ls.accountID, ip, g, func(sig *wire.Signal) { s.fromGuest(ls, sig) })

	g.stop()
	s.endSession(id, "guest_disconnected", endOpts{agentCode: "guest_left", agentMsg: "the guest disconnected"})
	return nil
}

// guestDrain reads until the connection closes (so a queued close completes).
func (s *Server) guestDrain(g *peer) {
	for {
		if _, _, err := g.conn.Read(s.ctx); err != nil {
			return
		}
	}
}

// guestLoop reads the guest's signals: offers, candidates and bye go to
// deliver (towards the session's device); anything else is refused,
// counted for the audit log (guest.refused, one record per window), and
// after maxGuestRefusals the socket is closed.
func (s *Server) guestLoop(session, account, ip string, g *peer, deliver func(*wire.Signal)) {
	refusals := 0
	refuse := func(reason string) bool {
		s.gd.guestFail.Add(guard.TallyKey{Source: source(ip), Reason: reason, Account: account}, session)
		if refusals++; refusals >= maxGuestRefusals {
			g.closeWith(websocket.StatusPolicyViolation, "too many refused signals")
			s.guestDrain(g) // until the queued close is out
			return false
		}
		return true
	}
	for {
		sig, err := readSignal(s.ctx, g.conn)
		if err != nil {
			if errors.Is(err, wire.ErrMalformed) {
				g.send(&wire.Signal{Type: wire.SigError, Session: session, Code: api.CodeBadRequest, Message: err.Error()})
				if refuse("malformed signal") {
					continue
				}
			} else if errors.Is(err, websocket.ErrMessageTooBig) {
				refuse("oversized signal")
			}
			return
		}
		switch sig.Type {
		case wire.SigOffer, wire.SigCandidate, wire.SigBye:
		case wire.SigHello:
			continue
		default:
			g.send(&wire.Signal{Type: wire.SigError, Session: session, Code: api.CodeForbidden,
				Message: fmt.Sprintf("guests may send offer, candidate or bye, not %q", sig.Type)})
			if !refuse("signal type not for guests") {
				return
			}
			continue
		}
		sig.Session = session // the socket decides the session, not the message
		if msg := checkSignal(sig); msg != "" {
			g.send(&wire.Signal{Type: wire.SigError, Session: session, Code: api.CodeBadRequest, Message: msg})
			if !refuse("invalid signal") {
				return
			}
			continue
		}
		deliver(&wire.Signal{Type: sig.Type, Session: session, SDP: sig.SDP, Candidate: sig.Candidate,
			Code: sig.Code, Message: sig.Message})
		// After a bye, the close queued by the session's end ends the loop.
	}
}

// fromGuest passes a guest's checked signal to the session's device: a bye
// ends the session.
func (s *Server) fromGuest(ls *liveSession, sig *wire.Signal) {
	if sig.Type == wire.SigBye {
		s.endSession(ls.id, "guest_bye", endOpts{agentCode: cmp.Or(sig.Code, "guest_bye"), agentMsg: sig.Message})
		return
	}
	out := &wire.Signal{Type: sig.Type, Session: ls.id, SDP: sig.SDP, Candidate: sig.Candidate}
	s.hub.mu.Lock()
	ag := s.hub.agents[ls.deviceID]
	ended := s.hub.sessions[ls.id] != ls
	if ag != nil && !ended {
		ag.send(out)
	}
	s.hub.mu.Unlock()
	if !ended && ag == nil {
		s.endSession(ls.id, "device_offline", endOpts{guestCode: api.CodeDeviceOffline, guestMsg: "the device is offline"})
	}
}
