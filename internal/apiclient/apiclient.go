// Package apiclient makes JSON calls to the relay's HTTP API: the one
// place that encodes a request, reads a bounded answer and turns the
// relay's error body (wire.APIError) into an *Error. The guest, the
// Host's enrollment and the OnDemand agent's join all call through it.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// MaxAnswer bounds what is read of an answer.
const MaxAnswer = 8 << 20

// Error is an error answer from the relay.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is how long the relay asks to wait (Retry-After), when
	// it throttles.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	switch {
	case e.Message == "" && e.Code == "":
		return fmt.Sprintf("relay answered %d %s", e.Status, http.StatusText(e.Status))
	case e.Message == "":
		return fmt.Sprintf("relay answered %d %s", e.Status, e.Code)
	}
	return e.Message
}

// ErrUnreachable wraps failures to reach the relay at all (no answer).
var ErrUnreachable = errors.New("cannot reach the relay")

// Call sends in as JSON (nil: no body) with method to base+path, with
// token as the bearer token ("" = none), and decodes a 2xx answer into out
// (nil: ignored). A non-2xx answer is an *Error; no answer at all wraps
// ErrUnreachable.
func Call(ctx context.Context, hc *http.Client, method, base, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrUnreachable, base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return fmt.Errorf("reading the relay's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e wire.APIError
		_ = json.Unmarshal(raw, &e)
		ae := &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			ae.RetryAfter = time.Duration(secs) * time.Second
		}
		return ae
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("unexpected answer from the relay: %w", err)
		}
	}
	return nil
}
