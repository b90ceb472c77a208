package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// maxAPIAnswer bounds what the Portal buffers of one API answer.
const maxAPIAnswer = 16 << 20

// apiError is the API's refusal as the Portal shows it.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// apiAnswer is a buffered API response.
type apiAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
	over   bool
}

func (a *apiAnswer) Header() http.Header { return a.header }
func (a *apiAnswer) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}
func (a *apiAnswer) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.body.Len()+len(b) > maxAPIAnswer {
		a.over = true
		return 0, io.ErrShortWrite
	}
	return a.body.Write(b)
}

// call sends one request to the API in-process on behalf of the browser's
// request r: same remote address and forwarding headers (the API's
// throttles and audit see the real client), the session's token as Bearer.
// in is sent as JSON; a 2xx answer is decoded into out (when not nil).
// Refusals come back as *apiError with the API's message.
func (p *Portal) call(r *http.Request, token, method, path string, in, out any) (http.Header, error) {
	ans, err := p.send(r, token, method, path, in)
	if err != nil {
		if ans != nil {
			return ans.header, err
		}
		return nil, err
	}
	if out != nil && ans.status != http.StatusNoContent {
		if err := json.Unmarshal(ans.body.Bytes(), out); err != nil {
			return ans.header, fmt.Errorf("portal: %s %s: decoding the answer: %w", method, path, err)
		}
	}
	return ans.header, nil
}

// send is call without decoding: the buffered answer of a 2xx, or the
// refusal as *apiError.
func (p *Portal) send(r *http.Request, token, method, path string, in any) (*apiAnswer, error) {
	var body io.Reader = http.NoBody
	contentType := "application/json"
	if rb, ok := in.(rawBody); ok {
		body, contentType = bytes.NewReader(rb.data), rb.contentType
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, body)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	req.TLS = r.TLS
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "User-Agent"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	if in != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	ans := &apiAnswer{header: http.Header{}}
	p.cfg.API.ServeHTTP(ans, req)
	if ans.over {
		return nil, fmt.Errorf("portal: %s %s: answer larger than %d bytes", method, path, maxAPIAnswer)
	}
	if ans.status == 0 {
		ans.status = http.StatusOK
	}
	if ans.status >= 300 {
		var e wire.APIError
		ae := &apiError{Status: ans.status, Message: http.StatusText(ans.status)}
		if json.Unmarshal(ans.body.Bytes(), &e) == nil && e.Error.Message != "" {
			ae.Code, ae.Message = e.Error.Code, e.Error.Message
		}
		if s, err := strconv.Atoi(ans.header.Get("Retry-After")); err == nil && s > 0 {
			ae.RetryAfter = time.Duration(s) * time.Second
		}
		return ans, ae
	}
	return ans, nil
}

// rawBody is a request body sent as is (an uploaded file), not as JSON.
type rawBody struct {
	contentType string
	data        []byte
}

// accountPath is /api/v1/accounts/{id}/rest with the id escaped.
func accountPath(account, rest string) string {
	return "/api/v1/accounts/" + url.PathEscape(account) + rest
}
