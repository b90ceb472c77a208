package relay

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/cluster"
	"github.com/tandem-rc/tandem/relay/mail"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// OnDemand sessions (spec 3.2), the relay's side. A technician allowed
// OnDemand (the membership's OnDemand flag and an OnDemand role
// assignment that applies now) creates a single-use key; the end user
// opens RELAY/s/KEY, downloads tandem-ondemand and runs it; the agent joins
// with the key (POST /api/v1/ondemand/join) and gets an ephemeral device
// identity, which it uses on the agent WebSocket exactly like a Host; it
// then waits in the account's queue. A technician starts it (POST
// /api/v1/sessions {"ondemand": KEY}) or rejects it. When the started
// session ends, or the key is rejected or expires, the key is dead: the
// agent is closed with wire.CodeOnDemandOver and its device deleted.
//
// The queue is the account's, shared: any technician of the account whose
// OnDemand role assignments apply now sees every waiting session and may
// start or reject it, as help desks work (the end user calls whoever
// answers). Keys that nobody has used yet stay their creator's: only the
// creator sees and emails them.

// Audit events of OnDemand sessions. None carries the key.
const (
	EvODCreated     = "ondemand.created"
	EvODEmailed     = "ondemand.emailed"
	EvODJoined      = "ondemand.joined"
	EvODStarted     = "ondemand.started"
	EvODRejected    = "ondemand.rejected"
	EvODEnded       = "ondemand.ended"
	EvODExpired     = "ondemand.expired"
	EvODKeyRejected = "ondemand.key_rejected" // a wrong, dead or expired key was presented
	EvODDownload    = "ondemand.downloaded"
)

// OnDemand limits (spec 3.2.1, 3.2.3).
const (
	ODKeyTTL    = 24 * time.Hour // a key is valid this long after its creation
	ODQueueTTL  = time.Hour      // a joined agent waits in the queue this long at most
	odKeyDigits = 9              // as the spec's example, 613220463: easy to read out
	// odRetention keeps dead keys (state, who ended them) before they are
	// deleted and their numbers may be drawn again.
	odRetention = 7 * 24 * time.Hour
)

// closeOnDemandOver closes an OnDemand agent whose key died.
const closeOnDemandOver = 4002

// newODKey draws a key: odKeyDigits uniform decimal digits from crypto/rand.
func newODKey() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return fmt.Sprintf("%0*d", odKeyDigits, n)
}

// normalizeODKey accepts a key as people type it, with spaces, dashes or
// dots between the digits; ok is false when it cannot be a key.
func normalizeODKey(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.':
		default:
			return "", false
		}
	}
	if b.Len() != odKeyDigits {
		return "", false
	}
	return b.String(), true
}

// odKeyHash is how the store knows a key: an HMAC keyed with a secret
// derived from the relay's private key (outside the database). A plain
// hash of a 9-digit key would be reversed by trying all 10^9 keys, so a
// leaked database alone must not give the live keys away.
func (s *Server) odKeyHash(key string) string {
	k := sha256.Sum256(append([]byte("tandem ondemand key\x00"), s.key.Seed()...))
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil))
}

// publicBase is the relay URL links carry: the configured public URL, a
// trusted proxy's forwarded host, or the address this connection reached;
// never the Host header (frontdoor.Front.Base).
func (s *Server) publicBase(r *http.Request) string { return s.front.Base(r) }

// odDue says why o's time is up at now ("" while it is not): a key never
// used after ODKeyTTL, an agent in the queue for ODQueueTTL.
func odDue(o store.OnDemand, now time.Time) string {
	switch o.State {
	case store.ODCreated:
		if !now.Before(o.ExpiresAt) {
			return "key_expired"
		}
	case store.ODWaiting:
		if !now.Before(o.ExpiresAt) {
			return "key_expired"
		}
		if !now.Before(o.JoinedAt.Add(ODQueueTTL)) {
			return "queue_expired"
		}
	}
	return ""
}

// odFresh applies o's expiry now if it is due (the janitor does the same
// every 15 s; this makes every lookup exact) and returns o as it stands.
func (s *Server) odFresh(o store.OnDemand) store.OnDemand {
	if why := odDue(o, s.now()); why != "" {
		s.odKill(o, store.ODExpired, "", why)
		ctx, cancel := s.dbctx()
		defer cancel()
		if fresh, err := s.st.OnDemand(ctx, o.ID); err == nil {
			return fresh
		}
		o.State = store.ODExpired
	}
	return o
}

// odByKey finds the session of a presented key (fresh); ErrNotFound for
// a malformed or unknown key.
func (s *Server) odByKey(ctx context.Context, presented string) (store.OnDemand, string, error) {
	key, ok := normalizeODKey(presented)
	if !ok {
		return store.OnDemand{}, "", store.ErrNotFound
	}
	o, err := s.st.OnDemandByKeyHash(ctx, s.odKeyHash(key))
	if err != nil {
		return o, key, err
	}
	return s.odFresh(o), key, nil
}

// odOver says why a dead key no longer works, for people.
func odOver(o store.OnDemand) string {
	switch o.State {
	case store.ODRejected:
		return "this OnDemand session was rejected by the technician"
	case store.ODExpired:
		if o.EndReason == "queue_expired" {
			return "this OnDemand session waited in the queue for more than an hour and expired"
		}
		return "this OnDemand session key expired (keys are valid for 24 hours)"
	case store.ODEnded:
		return "this OnDemand session is over (keys work for one session only)"
	case store.ODWaiting, store.ODStarted:
		return "this OnDemand session key was already used (keys work once)"
	}
	return "this OnDemand session key is no longer valid"
}

// odKill ends a live key once: records it, audits it, ends its remote
// session if one is live, disconnects its agent with
// wire.CodeOnDemandOver and (in the store) deletes its device. It reports
// whether this call ended it.
func (s *Server) odKill(o store.OnDemand, state, by, reason string) bool {
	if o.SessionID != "" && state != store.ODEnded {
		// Rejected or expired while started: end the session first, so its
		// row records the end before the device (and it) go.
		s.endSession(o.SessionID, reason, endOpts{agentCode: wire.CodeOnDemandOver, agentMsg: odOver(store.OnDemand{State: state}),
			guestCode: wire.CodeOnDemandOver, guestMsg: "the OnDemand session was " + state, keepOnDemand: true})
	}
	ctx, cancel := s.dbctx()
	var ok bool
	ev := map[string]string{store.ODEnded: EvODEnded, store.ODRejected: EvODRejected, store.ODExpired: EvODExpired}[state]
	err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) (err error) {
		if ok, err = tx.EndOnDemand(ctx, o.ID, state, by, reason, s.now()); ok {
			audit(auditRec{Event: ev, Account: o.AccountID, User: by, Device: o.DeviceID,
				Detail: map[string]any{"ondemand": o.ID, "reason": reason, "hostname": o.Hostname}})
		}
		return err
	})
	cancel()
	if err != nil {
		s.log.Warn("ending an OnDemand session", "ondemand", o.ID, "err", err)
		return false
	}
	if !ok {
		return false
	}
	s.log.Info("OnDemand session over", "ondemand", o.ID, "state", state, "reason", reason)
	o.State, o.EndReason = state, reason
	s.kickOnDemand(o.DeviceID, odOver(o))
	return true
}

// kickOnDemand disconnects an OnDemand agent whose key died: the agent
// exits on wire.CodeOnDemandOver.
func (s *Server) kickOnDemand(deviceID, msg string) {
	if deviceID == "" {
		return
	}
	a := s.hub.agent(deviceID)
	if a == nil {
		if s.cl != nil { // its agent may be on another node
			data, _ := json.Marshal(msg)
			s.cl.Post("", cluster.Message{Kind: msgODOver, Device: deviceID, Data: data})
		}
		return
	}
	a.log.Info("disconnecting OnDemand agent: its session is over")
	a.send(&wire.Signal{Type: wire.SigRevoked, Code: wire.CodeOnDemandOver, Message: msg})
	a.closeWith(closeOnDemandOver, wire.CodeOnDemandOver)
}

// odSessionOver kills the key of an OnDemand session whose remote session
// ended (bye, a side gone, consent denied, grant expiry): keys work once.
func (s *Server) odSessionOver(odID, reason string) {
	ctx, cancel := s.dbctx()
	o, err := s.st.OnDemand(ctx, odID)
	cancel()
	if err != nil {
		s.log.Warn("OnDemand session of an ended session", "ondemand", odID, "err", err)
		return
	}
	s.odKill(o, store.ODEnded, "", reason)
}

// sweepOnDemand expires what is due and forgets long-dead keys.
func (s *Server) sweepOnDemand(now time.Time) {
	ctx, cancel := s.dbctx()
	due, err := s.st.DueOnDemand(ctx, now, ODQueueTTL)
	cancel()
	if err != nil {
		s.log.Warn("listing due OnDemand sessions", "err", err)
		return
	}
	for _, o := range due {
		if why := odDue(o, now); why != "" {
			s.odKill(o, store.ODExpired, "", why)
		}
	}
	ctx, cancel = s.dbctx()
	defer cancel()
	if _, err := s.st.PruneOnDemand(ctx, now.Add(-odRetention)); err != nil {
		s.log.Warn("pruning OnDemand sessions", "err", err)
	}
}

// endStartedOnDemand ends the keys whose sessions a previous run left
// started: those sessions cannot resume.
func (s *Server) endStartedOnDemand(reason string) {
	ctx, cancel := s.dbctx()
	started, err := s.st.StartedOnDemand(ctx)
	cancel()
	if err != nil {
		s.log.Warn("listing started OnDemand sessions", "err", err)
		return
	}
	for _, o := range started {
		s.odKill(o, store.ODEnded, "", reason)
	}
}

// --- who may do what -------------------------------------------------------------

// odMember is one of the caller's usable memberships (not disabled; an
// API key's own account only).
func (s *Server) odMembers(ctx context.Context, a authed) ([]store.Membership, error) {
	ms, err := s.st.Memberships(ctx, a.User.ID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ms, func(m store.Membership) bool {
		return m.Disabled || (a.APIKey != nil && a.APIKey.AccountID != m.AccountID)
	}), nil
}

// odPermissions is what u's OnDemand role assignments in m's account give
// now, decided by the evaluator (deny by default); empty with the reason
// when nothing.
func (s *Server) odPermissions(ctx context.Context, u store.User, m store.Membership, now time.Time) (policy.Set, string) {
	switch {
	case u.Disabled:
		return policy.Set{}, "the user is disabled"
	case m.Disabled:
		return policy.Set{}, "the user is disabled in this account"
	}
	model, err := s.models.model(ctx, m.AccountID)
	if err != nil {
		s.log.Error("reading the access model", "account", m.AccountID, "err", err)
		return policy.Set{}, "the relay could not read the access rules; try again"
	}
	dec := policy.Evaluate(model, policy.Request{UserID: u.ID, OnDemand: true, At: now})
	if !dec.Allowed || dec.Permissions.Empty() {
		// The request-level reason: OnDemand disabled for the user, or no
		// OnDemand assignment that applies now.
		for _, r := range dec.Reasons {
			if r.AssignmentID == "" {
				return policy.Set{}, r.String()
			}
		}
		return policy.Set{}, "no OnDemand role assignment applies to you now"
	}
	return dec.Permissions, ""
}

// odGrantPermissions is what an OnDemand session's grant carries: the
// OnDemand roles' permissions, plus text clipboard sync with keyboard and
// mouse — OnDemand sessions have clipboard sync (spec 3.2.4), and OnDemand
// roles cannot name it (they hold only view_screen and keyboard_mouse).
func odGrantPermissions(p policy.Set) policy.Set {
	if p.Has(policy.KeyboardMouse) {
		c, _ := policy.NewSet(policy.Clipboard)
		p = p.Union(c)
	}
	return p
}

// odAccess resolves {key} for a technician: the session, the caller's
// membership in its account and their OnDemand permissions now. A key
// outside the caller's accounts is not found, exactly like a missing one.
func (s *Server) odAccess(r *http.Request, a authed) (store.OnDemand, string, store.Membership, policy.Set, error) {
	ctx := r.Context()
	notFound := errf(http.StatusNotFound, api.CodeNotFound, "no OnDemand session with this key in your accounts")
	o, key, err := s.odByKey(ctx, r.PathValue("key"))
	if errors.Is(err, store.ErrNotFound) {
		return o, key, store.Membership{}, policy.Set{}, notFound
	} else if err != nil {
		return o, key, store.Membership{}, policy.Set{}, err
	}
	ms, err := s.odMembers(ctx, a)
	if err != nil {
		return o, key, store.Membership{}, policy.Set{}, err
	}
	i := slices.IndexFunc(ms, func(m store.Membership) bool { return m.AccountID == o.AccountID })
	if i < 0 {
		return o, key, store.Membership{}, policy.Set{}, notFound
	}
	perms, _ := s.odPermissions(ctx, a.User, ms[i], s.now())
	return o, key, ms[i], perms, nil
}

// wireOD describes o to a technician.
func (s *Server) wireOD(r *http.Request, o store.OnDemand, key, createdBy string, perms policy.Set) wire.OnDemandSession {
	out := wire.OnDemandSession{
		Key: key, Link: s.publicBase(r) + "/s/" + key, AccountID: o.AccountID, State: o.State, CreatedBy: createdBy,
		CreatedAt: o.CreatedAt.Unix(), ExpiresAt: o.ExpiresAt.Unix(),
		Hostname: o.Hostname, OS: o.OS, User: o.User, Permissions: perms.Strings(),
	}
	if !o.JoinedAt.IsZero() {
		out.JoinedAt = o.JoinedAt.Unix()
	}
	return out
}

// --- the technician's API ----------------------------------------------------------------

// handleCreateOnDemand is POST /api/v1/ondemand.
func (s *Server) handleCreateOnDemand(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	var req wire.OnDemandCreateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	ms, err := s.odMembers(ctx, a)
	if err != nil {
		return err
	}
	var m store.Membership
	switch ref := strings.TrimSpace(req.Account); {
	case ref == "" && len(ms) == 1:
		m = ms[0]
	case ref == "" && len(ms) == 0:
		return errf(http.StatusForbidden, api.CodeForbidden, "you are not an active member of any account")
	case ref == "":
		return badf("you belong to %d accounts: name one in account (its id or name)", len(ms))
	default:
		i := slices.IndexFunc(ms, func(m store.Membership) bool { return m.AccountID == ref || strings.EqualFold(m.AccountName, ref) })
		if i < 0 {
			return errf(http.StatusNotFound, api.CodeNotFound, "no account %q among yours", ref)
		}
		m = ms[i]
	}
	now := s.now()
	perms, reason := s.odPermissions(ctx, a.User, m, now)
	if perms.Empty() {
		return errf(http.StatusForbidden, api.CodeForbidden, "you may not create OnDemand sessions in %s: %s", m.AccountName, reason)
	}
	var o store.OnDemand
	var key string
	for try := 0; ; try++ {
		key = newODKey()
		sealed, err := s.seal(key)
		if err != nil {
			return fmt.Errorf("sealing an OnDemand key: %w", err)
		}
		err = s.commit(ctx, func(tx *store.Store) (err error) {
			o, err = tx.CreateOnDemand(ctx, store.OnDemand{AccountID: m.AccountID, CreatedBy: a.User.ID,
				KeyHash: s.odKeyHash(key), KeySealed: sealed, CreatedAt: now, ExpiresAt: now.Add(ODKeyTTL)})
			return err
		}, func() auditRec { return s.recAs(r, a, m.AccountID, EvODCreated, map[string]any{"ondemand": o.ID}) })
		if err == nil {
			break
		}
		// A number drawn twice (1 in 10^9 per live key): draw again.
		if !errors.Is(err, store.ErrConflict) || try == 4 {
			return err
		}
	}
	s.log.Info("OnDemand session created", "ondemand", o.ID, "user", a.User.ID, "account", m.AccountID)
	writeJSON(w, http.StatusCreated, s.wireOD(r, o, key, a.User.Email, perms))
	return nil
}

// handleOnDemandSessions is GET /api/v1/ondemand: the caller's own live
// keys and their accounts' queues (waiting sessions the caller may start),
// each with the permissions the caller would get now.
func (s *Server) handleOnDemandSessions(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ms, err := s.odMembers(ctx, a)
	if err != nil {
		return err
	}
	now := s.now()
	perms := map[string]policy.Set{}
	var accounts []string
	for _, m := range ms {
		accounts = append(accounts, m.AccountID)
		perms[m.AccountID], _ = s.odPermissions(ctx, a.User, m, now)
	}
	live, err := s.st.LiveOnDemand(ctx, accounts)
	if err != nil {
		return err
	}
	emails := map[string]string{a.User.ID: a.User.Email}
	out := []wire.OnDemandSession{}
	for _, o := range live {
		o = s.odFresh(o)
		p := perms[o.AccountID]
		mine := o.CreatedBy == a.User.ID
		if !store.ODLive(o.State) || (!mine && (o.State != store.ODWaiting || p.Empty())) {
			continue
		}
		key, err := s.unseal(o.KeySealed)
		if err != nil {
			s.log.Error("unsealing an OnDemand key (was the relay key replaced?)", "ondemand", o.ID, "err", err)
			continue
		}
		if _, ok := emails[o.CreatedBy]; !ok {
			if u, err := s.st.User(ctx, o.CreatedBy); err == nil {
				emails[o.CreatedBy] = u.Email
			}
		}
		out = append(out, s.wireOD(r, o, key, emails[o.CreatedBy], p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// odMailLimit: links a technician may email, per user (each send takes a
// token): the relay must not become a spam cannon.
const (
	odMailBurst = 10
	odMailEvery = 3 * time.Minute
)

// handleEmailOnDemand is POST /api/v1/ondemand/{key}/email: the link goes
// to the end user. Only the key's creator sends it, while nobody has used it.
func (s *Server) handleEmailOnDemand(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	var req wire.OnDemandEmailRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	to := strings.TrimSpace(req.Email)
	if to == "" || !validText(to, 254) || !strings.Contains(to, "@") {
		return badf("email must be the end user's email address")
	}
	o, key, m, _, err := s.odAccess(r, a)
	if err != nil {
		return err
	}
	if o.CreatedBy != a.User.ID {
		return errf(http.StatusForbidden, api.CodeForbidden, "only the technician who created this key may email it")
	}
	if o.State != store.ODCreated {
		return errf(http.StatusGone, wire.CodeOnDemandOver, "%s", odOver(o))
	}
	if blocked, retry := s.odMailLimit.blocked(a.User.ID); blocked {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "you sent many OnDemand links in a short time; wait and try again", RetryAfter: retry}
	}
	tech := a.User.Name
	if tech == "" {
		tech = a.User.Email
	}
	msg, err := mail.OnDemandLink(to, tech, m.AccountName, s.publicBase(r)+"/s/"+key, o.ExpiresAt)
	if err != nil {
		return badf("cannot email this address: %v", err)
	}
	s.odMailLimit.fail(a.User.ID)
	if err := s.sendMail(r.Context(), msg); err != nil {
		s.log.Warn("sending an OnDemand link", "ondemand", o.ID, "err", err)
		return errf(http.StatusServiceUnavailable, api.CodeMailUnavailable, "the link could not be emailed; copy it instead, or try again later")
	}
	s.auditAs(r, a, o.AccountID, EvODEmailed, map[string]any{"ondemand": o.ID, "to": to})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRejectOnDemand is POST /api/v1/ondemand/{key}/reject: the key is
// dead, a waiting (or started) agent is disconnected and its device goes.
// Its creator, or any technician who may start it (the shared queue), may.
func (s *Server) handleRejectOnDemand(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	o, _, _, perms, err := s.odAccess(r, a)
	if err != nil {
		return err
	}
	if o.CreatedBy != a.User.ID && perms.Empty() {
		return errf(http.StatusForbidden, api.CodeForbidden, "you may not reject OnDemand sessions in this account")
	}
	if !store.ODLive(o.State) {
		return errf(http.StatusGone, wire.CodeOnDemandOver, "%s", odOver(o))
	}
	if !s.odKill(o, store.ODRejected, a.User.ID, "rejected") {
		return errf(http.StatusGone, wire.CodeOnDemandOver, "this OnDemand session ended meanwhile")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- the agent's join ------------------------------------------------------------------

// handleJoinOnDemand is POST /api/v1/ondemand/join: tandem-ondemand
// presents the key (the credential) and an ephemeral public key. Failures
// count against the enrollment throttle of the caller's address: both
// guess keys.
func (s *Server) handleJoinOnDemand(w http.ResponseWriter, r *http.Request) error {
	ip := remoteIP(r)
	if blocked, retry := s.enrollLimit.blocked(source(ip)); blocked {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many invalid session keys from this address; wait and try again", RetryAfter: retry}
	}
	var req wire.OnDemandJoinRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Key) == "" {
		return badf("key is required: the session key your technician gave you")
	}
	pub, ok := parsePublicKey(req.PublicKey)
	if !ok {
		return badf("public_key must be a base64 Ed25519 public key (32 bytes)")
	}
	inv, err := checkInventory(req.Inventory)
	if err != nil {
		return err
	}
	refuse := func(o store.OnDemand, reason string, ae *apiError) error {
		s.enrollLimit.fail(source(ip))
		s.audit(auditRec{Event: EvODKeyRejected, Account: o.AccountID, Remote: ip,
			Detail: map[string]any{"reason": reason, "ondemand": o.ID, "via": "join"}})
		return ae
	}
	invalid := errf(http.StatusForbidden, api.CodeInvalidKey, "this session key is not valid; check the digits with your technician")
	o, _, err := s.odByKey(r.Context(), req.Key)
	if errors.Is(err, store.ErrNotFound) {
		return refuse(o, "unknown_key", invalid)
	} else if err != nil {
		return err
	}
	if o.State != store.ODCreated {
		return refuse(o, "key_"+o.State, errf(http.StatusGone, wire.CodeOnDemandOver, "%s; ask your technician for a new one", odOver(o)))
	}
	now := s.now()
	var d store.Device
	// The device joined and its event commit together.
	err = s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) (err error) {
		if o, d, err = tx.JoinOnDemand(r.Context(), o.ID, base64.StdEncoding.EncodeToString(pub), inv, now); err == nil {
			audit(auditRec{Event: EvODJoined, Account: o.AccountID, Device: d.ID, Remote: ip,
				Detail: map[string]any{"ondemand": o.ID, "hostname": d.Hostname, "os": d.OS, "user": d.LoggedInUser}})
		}
		return err
	})
	switch {
	case errors.Is(err, store.ErrODState):
		return refuse(o, "key_used", errf(http.StatusGone, wire.CodeOnDemandOver,
			"this OnDemand session key was already used (keys work once); ask your technician for a new one"))
	case errors.Is(err, store.ErrConflict):
		return errf(http.StatusConflict, api.CodeConflict, "this public key is in use; start the program again")
	case err != nil:
		return err
	}
	s.log.Info("OnDemand agent joined", "ondemand", o.ID, "device", d.ID, "hostname", d.Hostname)
	tech := ""
	if u, err := s.st.User(r.Context(), o.CreatedBy); err == nil {
		tech = u.Name
		if tech == "" {
			tech = u.Email
		}
	}
	expires := o.JoinedAt.Add(ODQueueTTL)
	if o.ExpiresAt.Before(expires) {
		expires = o.ExpiresAt
	}
	writeJSON(w, http.StatusOK, wire.OnDemandJoinResponse{DeviceID: d.ID, AccountID: o.AccountID,
		RelayPublicKey: s.PublicKeyString(), ExpiresAt: expires.Unix(), Technician: tech})
	return nil
}

// odDeviceGone is the handshake's answer to a device id that does not
// exist: if it was an OnDemand agent's, the agent is told
// wire.CodeOnDemandOver (it exits), never "unknown device"; nil otherwise.
func (s *Server) odDeviceGone(deviceID string) *agentRefusal {
	ctx, cancel := s.dbctx()
	o, err := s.st.OnDemandByDevice(ctx, deviceID)
	cancel()
	if err != nil {
		return nil
	}
	return &agentRefusal{code: wire.CodeOnDemandOver, device: deviceID, account: o.AccountID,
		detail: "ondemand " + o.State, msg: odOver(o)}
}

// odAgentCheck is the handshake's check of an ephemeral identity: its key
// must be waiting or started (a reconnect after a network drop); once it
// is dead the agent is told wire.CodeOnDemandOver.
func (s *Server) odAgentCheck(deviceID string) *agentRefusal {
	ctx, cancel := s.dbctx()
	o, err := s.st.OnDemandByDevice(ctx, deviceID)
	cancel()
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("OnDemand session of an agent", "device", deviceID, "err", err)
		}
		return &agentRefusal{code: wire.CodeOnDemandOver, device: deviceID, detail: "ondemand session missing",
			msg: "this OnDemand session is over"}
	}
	o = s.odFresh(o)
	if o.State == store.ODWaiting || o.State == store.ODStarted {
		return nil
	}
	return &agentRefusal{code: wire.CodeOnDemandOver, device: deviceID, account: o.AccountID,
		detail: "ondemand " + o.State, msg: odOver(o)}
}

// --- start: POST /api/v1/sessions {"ondemand": KEY} -----------------------------------------

// startOnDemand opens the session of a waiting OnDemand agent for the
// caller: decided by their OnDemand role assignments; the grant always
// asks the end user's consent (ConfirmLocal).
func (s *Server) startOnDemand(w http.ResponseWriter, r *http.Request, a authed, req wire.SessionRequest) error {
	if strings.TrimSpace(req.Device) != "" {
		return badf("send either device or ondemand, not both")
	}
	if req.Confirmation != "" {
		return badf("confirmation does not apply to OnDemand sessions: the end user confirms")
	}
	if req.Action != "" && req.Action != ActionRemoteControl {
		return badf("OnDemand sessions are remote control sessions; leave action empty or %q", ActionRemoteControl)
	}
	r.SetPathValue("key", req.OnDemand)
	o, _, m, perms, err := s.odAccess(r, a)
	if err != nil {
		return err
	}
	ctx := r.Context()
	u := a.User
	ip := remoteIP(r)
	deny := func(ae *apiError) error {
		s.audit(auditRec{Event: EvSessionDenied, Account: o.AccountID, User: u.ID, Device: o.DeviceID, Remote: ip,
			Detail: map[string]any{"action": ActionRemoteControl, "ondemand": o.ID, "reason": ae.Code, "message": ae.Msg}})
		return ae
	}
	switch o.State {
	case store.ODCreated:
		return deny(errf(http.StatusConflict, api.CodeConflict, "nobody has run the OnDemand program with this key yet"))
	case store.ODStarted:
		return deny(errf(http.StatusConflict, api.CodeSessionBusy, "this OnDemand session was already started"))
	case store.ODWaiting:
	default:
		return deny(errf(http.StatusGone, wire.CodeOnDemandOver, "%s", odOver(o)))
	}
	if !s.online(ctx, o.DeviceID) { // here or on another node
		return deny(errf(http.StatusConflict, api.CodeDeviceOffline, "the OnDemand program on %s is not connected right now; try again shortly", o.Hostname))
	}
	now := s.now()
	if perms.Empty() {
		_, reason := s.odPermissions(ctx, u, m, now)
		return deny(errf(http.StatusForbidden, api.CodeForbidden, "you may not start OnDemand sessions in %s: %s", m.AccountName, reason))
	}
	if !perms.Has(policy.ViewScreen) {
		return deny(errf(http.StatusForbidden, api.CodeForbidden, "your OnDemand roles do not include %s", policy.ViewScreen))
	}
	granted := odGrantPermissions(perms).Strings()
	expires := now.Add(s.cfg.GrantTTL)
	// The session row, the key started and their events commit together,
	// before the grant goes to the agent.
	var se store.Session
	errBusy := errors.New("ondemand not waiting")
	err = s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) (err error) {
		se, err = tx.CreateSession(ctx, store.Session{AccountID: o.AccountID, UserID: u.ID, DeviceID: o.DeviceID,
			Action: ActionRemoteControl, Permissions: granted, CreatedAt: now, ExpiresAt: expires})
		if err != nil {
			return err
		}
		if ok, err := tx.StartOnDemand(ctx, o.ID, se.ID, u.ID); err != nil {
			return err
		} else if !ok {
			return errBusy
		}
		audit(auditRec{Event: EvSessionRequested, Account: o.AccountID, User: u.ID, Device: o.DeviceID, Remote: ip,
			Detail: map[string]any{"session": se.ID, "action": ActionRemoteControl, "permissions": granted, "ondemand": o.ID}})
		audit(auditRec{Event: EvODStarted, Account: o.AccountID, User: u.ID, Device: o.DeviceID, Remote: ip,
			Detail: map[string]any{"session": se.ID, "ondemand": o.ID, "hostname": o.Hostname}})
		return nil
	})
	if errors.Is(err, errBusy) {
		return deny(errf(http.StatusConflict, api.CodeSessionBusy, "this OnDemand session was started by someone else meanwhile"))
	} else if err != nil {
		return err
	}
	var hostICE []policy.ICEServer
	for _, is := range s.iceServers(se.ID, "host", expires) {
		hostICE = append(hostICE, policy.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	token, err := policy.Sign(&policy.Grant{
		Version: policy.GrantVersion, SessionID: se.ID, AccountID: o.AccountID, DeviceID: o.DeviceID,
		User:   policy.GrantUser{ID: u.ID, Email: u.Email, Name: u.Name},
		Action: ActionRemoteControl, Permissions: granted, IssuedAt: now.Unix(), ExpiresAt: expires.Unix(), ICEServers: hostICE,
		// The end user always consents first (spec 3.2.3); the agent
		// denies when nobody answers.
		ConfirmLocal: true,
	}, s.ring.Key())
	if err != nil {
		s.endSessionRow(se, "internal_error")
		s.odUnstart(o.ID, se.ID)
		return fmt.Errorf("signing grant: %w", err)
	}
	ls := &liveSession{id: se.ID, accountID: o.AccountID, userID: u.ID, deviceID: o.DeviceID, expires: expires, ondemand: o.ID}
	if !s.openLive(ctx, ls, &wire.Signal{Type: wire.SigGrant, Session: se.ID, Grant: token}) {
		s.endSessionRow(se, "device_offline")
		s.odUnstart(o.ID, se.ID)
		return deny(errf(http.StatusConflict, api.CodeDeviceOffline, "the OnDemand program went offline; try again when it is connected"))
	}
	s.log.Info("OnDemand session started", "ondemand", o.ID, "session", se.ID, "user", u.ID)
	writeJSON(w, http.StatusCreated, s.sessionResponse(se.ID, o.DeviceID, granted, expires))
	return nil
}

// odUnstart puts a session whose grant never reached its agent back in
// the queue.
func (s *Server) odUnstart(odID, sessionID string) {
	ctx, cancel := s.dbctx()
	defer cancel()
	if err := s.st.UnstartOnDemand(ctx, odID, sessionID); err != nil {
		s.log.Warn("putting an OnDemand session back in the queue", "ondemand", odID, "err", err)
	}
}
