// Package sms sends PIN codes by text message (issue 17, seed 000): a
// Provider interface with a generic HTTP gateway (any SMS service with an
// HTTP API: a URL and body template) and an email-to-SMS address, and the
// codes themselves: 6 digits, kept only as a keyed hash, a few tries each,
// sends rate-limited, all decided by the database so several relay nodes
// share the budget.
package sms

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/store"
)

// Provider sends one text message.
type Provider interface {
	Send(ctx context.Context, phone, message string) error
}

// ErrPhone is a phone number that is not E.164 (+ and 8 to 15 digits).
var ErrPhone = errors.New("sms: phone number: want + and 8 to 15 digits, like +4512345678")

// NormalizePhone reads a phone number as people type it (spaces, dashes,
// dots, parentheses) into E.164.
func NormalizePhone(s string) (string, error) {
	if len(s) > 32 {
		return "", ErrPhone
	}
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", ErrPhone
		}
	}
	p := b.String()
	if !strings.HasPrefix(p, "+") || len(p) < 9 || len(p) > 16 || p[1] == '0' {
		return "", ErrPhone
	}
	return p, nil
}

// HTTPGateway sends through an SMS service's HTTP API. URL and Body are
// templates: {phone} and {message} are replaced, escaped for where they
// stand (query escaping in the URL and in a form body, JSON string
// escaping in a JSON body, as is otherwise).
type HTTPGateway struct {
	URL         string       `json:"url"`
	Method      string       `json:"method,omitempty"` // default POST
	Body        string       `json:"body,omitempty"`
	ContentType string       `json:"content_type,omitempty"`
	Header      http.Header  `json:"header,omitempty"` // e.g. Authorization (kept sealed by the relay)
	Client      *http.Client `json:"-"`
}

// Check validates g without reaching the service.
func (g *HTTPGateway) Check() error {
	u, err := url.Parse(strings.NewReplacer("{phone}", "x", "{message}", "x").Replace(g.URL))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return errors.New("sms: gateway url: want an http(s) URL")
	}
	switch g.Method {
	case "", "POST", "GET", "PUT":
	default:
		return errors.New("sms: gateway method: GET, POST or PUT")
	}
	if len(g.Body) > 4096 || len(g.URL) > 2048 || len(g.ContentType) > 128 {
		return errors.New("sms: gateway url, body or content type too long")
	}
	return nil
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// Send posts one message; any answer but 2xx is an error (its first bytes
// logged by the caller, never the code).
func (g *HTTPGateway) Send(ctx context.Context, phone, message string) error {
	if err := g.Check(); err != nil {
		return err
	}
	u := strings.NewReplacer("{phone}", url.QueryEscape(phone), "{message}", url.QueryEscape(message)).Replace(g.URL)
	esc := func(s string) string { return s }
	ct := strings.ToLower(g.ContentType)
	switch {
	case strings.Contains(ct, "json"):
		esc = jsonEscape
	case strings.Contains(ct, "x-www-form-urlencoded"):
		esc = url.QueryEscape
	}
	body := strings.NewReplacer("{phone}", esc(phone), "{message}", esc(message)).Replace(g.Body)
	method := g.Method
	if method == "" {
		method = http.MethodPost
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var rd io.Reader
	if g.Body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("sms: gateway request: %w", err)
	}
	for k, vs := range g.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if g.ContentType != "" {
		req.Header.Set("Content-Type", g.ContentType)
	}
	c := g.Client
	if c == nil {
		c = &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("sms: gateway: %w", err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sms: gateway answered %d: %q", resp.StatusCode, strings.ToValidUTF8(string(head), "?"))
	}
	return nil
}

// EmailGateway sends through an operator's email-to-SMS address, e.g.
// "{phone}@sms.example.net" ({phone} without its +).
type EmailGateway struct {
	Address string
	Mail    func(ctx context.Context, to, subject, body string) error
}

// Send mails message to the phone's address.
func (g *EmailGateway) Send(ctx context.Context, phone, message string) error {
	if !strings.Contains(g.Address, "{phone}") || g.Mail == nil {
		return errors.New("sms: email gateway: want an address with {phone} and a mail sender")
	}
	return g.Mail(ctx, strings.ReplaceAll(g.Address, "{phone}", strings.TrimPrefix(phone, "+")), "Code", message)
}

// Errors of Codes.
var (
	ErrLimited = errors.New("sms: too many codes sent; wait and try again")
	ErrWrong   = errors.New("sms: wrong code")
	ErrNoCode  = errors.New("sms: no code to answer (expired, used, or too many tries); ask for a new one")
)

// Codes issues and checks codes.
type Codes struct {
	st     *store.Store
	secret []byte // the hash key: a stolen table doesn't give the codes
	now    func() time.Time
	TTL    time.Duration
	Limits store.SMSLimits
}

// NewCodes keeps codes in st, hashed with secret, on the clock now. Defaults: a code lives
// 5 minutes and takes 5 tries; one send per 30 seconds and 5 per hour per
// key.
func NewCodes(st *store.Store, secret []byte, now func() time.Time) *Codes {
	return &Codes{st: st, secret: secret, now: now, TTL: 5 * time.Minute,
		Limits: store.SMSLimits{Gap: 30 * time.Second, Window: time.Hour, WindowMax: 5, MaxTries: 5}}
}

func (c *Codes) hash(key, code string) string {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(key + "\x00" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// Send makes a new code for key (a purpose and a user: "login:ID"),
// spends one of key's sends, and texts it to phone through p; text is the
// message with {code} in it.
func (c *Codes) Send(ctx context.Context, p Provider, key, phone, text string) error {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return err
	}
	code := fmt.Sprintf("%06d", n.Int64())
	err = c.st.IssueSMSCode(ctx, key, phone, c.hash(key, code), c.now(), c.now().Add(c.TTL), c.Limits)
	if errors.Is(err, store.ErrLimited) {
		return ErrLimited
	} else if err != nil {
		return err
	}
	return p.Send(ctx, phone, strings.ReplaceAll(text, "{code}", code))
}

// Check answers key's code: the phone it was sent to, ErrWrong, or
// ErrNoCode (none live: tries used up, expired or already used).
func (c *Codes) Check(ctx context.Context, key, code string) (string, error) {
	code = strings.TrimSpace(code)
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		// Malformed answers count as tries too: they are guesses.
		code = "x"
	}
	phone, err := c.st.UseSMSCode(ctx, key, c.hash(key, code), c.now(), c.Limits.MaxTries)
	switch {
	case errors.Is(err, store.ErrWrongCode):
		return "", ErrWrong
	case errors.Is(err, store.ErrNotFound):
		return "", ErrNoCode
	}
	return phone, err
}
