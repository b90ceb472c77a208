package frontdoor

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"testing"
)

func mustPrefixes(t testing.TB, specs ...string) []netip.Prefix {
	t.Helper()
	p, err := ParsePrefixes(specs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func request(peer string, headers ...string) *http.Request {
	r, _ := http.NewRequest("GET", "http://relay.internal:8080/x", nil)
	r.RemoteAddr = peer
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func TestParsePrefixes(t *testing.T) {
	got := mustPrefixes(t, "10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:198.51.100.1", "10.1.2.3/16")
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.1/32", "10.1.0.0/16"}
	for i, w := range want {
		if got[i].String() != w {
			t.Errorf("prefix %d: %s, want %s", i, got[i], w)
		}
	}
	for _, bad := range []string{"", "proxy.example", "10.0.0.0/33", "fe80::1%eth0", "1.2.3"} {
		if _, err := ParsePrefixes([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	f := New("", mustPrefixes(t, "10.0.0.0/8", "2001:db8:1::/48"))
	long := strings.Repeat("10.9.9.9, ", 100) + "10.1.1.1"
	for _, c := range []struct {
		name             string
		peer             string
		headers          []string
		ip, scheme, host string
		proxied          bool
	}{
		{"direct", "198.51.100.7:5555", nil, "198.51.100.7", "http", "", false},
		{"spoofed from an untrusted peer", "198.51.100.7:5555", []string{"X-Forwarded-For", "203.0.113.1",
			"X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example", "Forwarded", "for=203.0.113.2"},
			"198.51.100.7", "http", "", false},
		{"trusted proxy", "10.0.0.2:40000", []string{"X-Forwarded-For", "203.0.113.1",
			"X-Forwarded-Proto", "https", "X-Forwarded-Host", "Relay.Example.com"},
			"203.0.113.1", "https", "relay.example.com", true},
		{"client-chosen XFF left of the real one", "10.0.0.2:40000", []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.1"},
			"203.0.113.1", "http", "", true},
		{"trusted hops skipped", "10.0.0.2:40000", []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.1, 10.5.5.5,10.6.6.6"},
			"203.0.113.1", "http", "", true},
		{"several header lines", "10.0.0.2:40000", []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.9", "X-Forwarded-For", "203.0.113.1, 10.5.5.5"},
			"203.0.113.1", "http", "", true},
		{"across header lines", "10.0.0.2:40000", []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.9", "X-Forwarded-For", "10.5.5.5"},
			"203.0.113.9", "http", "", true},
		{"ports and brackets", "[2001:db8:1::5]:443", []string{"X-Forwarded-For", "[2001:db8:2::7]:1234"},
			"2001:db8:2::7", "http", "", true},
		{"IPv4 with port", "10.0.0.2:40000", []string{"X-Forwarded-For", "203.0.113.1:9999"}, "203.0.113.1", "http", "", true},
		{"mapped peer", "[::ffff:10.0.0.2]:40000", []string{"X-Forwarded-For", "::ffff:203.0.113.1"}, "203.0.113.1", "http", "", true},
		{"garbage stops at the last trusted hop", "10.0.0.2:40000", []string{"X-Forwarded-For", "6.6.6.6, <script>, 10.5.5.5"},
			"10.5.5.5", "http", "", true},
		{"zone refused", "10.0.0.2:40000", []string{"X-Forwarded-For", "fe80::1%eth0"}, "10.0.0.2", "http", "", true},
		{"empty XFF", "10.0.0.2:40000", []string{"X-Forwarded-For", ""}, "10.0.0.2", "http", "", true},
		{"only trusted hops", "10.0.0.2:40000", []string{"X-Forwarded-For", "10.3.3.3, 10.4.4.4"}, "10.3.3.3", "http", "", true},
		{"long chain read from the right only", "10.0.0.2:40000", []string{"X-Forwarded-For", "203.0.113.1, " + long}, "10.9.9.9", "http", "", true},
		{"proto and host: last value", "10.0.0.2:40000", []string{"X-Forwarded-Proto", "https, http", "X-Forwarded-Host", "evil.example, relay.example.com:8443"},
			"10.0.0.2", "http", "relay.example.com:8443", true},
		{"bad proto and hosts ignored", "10.0.0.2:40000", []string{"X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "relay.example.com/evil"},
			"10.0.0.2", "http", "", true},
		{"unix socket peer", "@", []string{"X-Forwarded-For", "203.0.113.1"}, "@", "http", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := f.Resolve(request(c.peer, c.headers...))
			if v.ClientIP != c.ip || v.Scheme != c.scheme || v.Host != c.host || v.Proxied != c.proxied {
				t.Fatalf("got %+v, want ip %s scheme %s host %q proxied %v", v, c.ip, c.scheme, c.host, c.proxied)
			}
		})
	}
	// TLS to the relay itself: https, whatever an untrusted peer says.
	r := request("198.51.100.7:5555", "X-Forwarded-Proto", "http")
	r.TLS = &tls.ConnectionState{}
	if v := f.Resolve(r); v.Scheme != "https" {
		t.Fatalf("TLS request: %+v", v)
	}
}

func TestValidHost(t *testing.T) {
	for _, h := range []string{"relay.example.com", "relay.example.com:443", "RELAY-1.example", "127.0.0.1:8080", "[2001:db8::1]", "[2001:db8::1]:8443", "localhost"} {
		if !validHost(h) {
			t.Errorf("%q refused", h)
		}
	}
	for _, h := range []string{"", "a@b", "relay.example.com/x", "relay.example.com:0", "relay.example.com:99999", "relay.example.com:+1",
		"-bad.example", "bad-.example", "a..b", "[2001:db8::1", "[fe80::1%eth0]", "[1.2.3.4]", "x y", `"x"`, "relay.example.com:", strings.Repeat("a", 64) + ".example",
		strings.Repeat("a.", 140) + "example", "<script>"} {
		if validHost(h) {
			t.Errorf("%q accepted", h)
		}
	}
}

// withLocal is r as an http.Server hands it over, reached at local.
func withLocal(r *http.Request, local string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(local))))
}

func TestBase(t *testing.T) {
	trusted := mustPrefixes(t, "10.0.0.0/8")
	serve := func(f *Front, r *http.Request) string {
		var got string
		f.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = f.Base(r) })).ServeHTTP(nil, r)
		return got
	}
	fwd := []string{"X-Forwarded-Host", "relay.example.com", "X-Forwarded-Proto", "https"}
	for _, c := range []struct {
		name, public, peer, local string
		headers                   []string
		want                      string
	}{
		{"public URL first", "https://relay.example.org/", "10.0.0.2:1", "192.0.2.1:8080", fwd, "https://relay.example.org"},
		{"trusted forwarded host", "", "10.0.0.2:1", "192.0.2.1:8080", fwd, "https://relay.example.com"},
		{"untrusted: local address", "", "198.51.100.7:1", "192.0.2.1:8080", fwd, "http://192.0.2.1:8080"},
		{"trusted without a host: local address", "", "10.0.0.2:1", "192.0.2.1:8080", []string{"X-Forwarded-Proto", "https"}, "http://192.0.2.1:8080"},
		{"IPv6 local address", "", "198.51.100.7:1", "[2001:db8::1]:8080", nil, "http://[2001:db8::1]:8080"},
		{"mapped local address", "", "198.51.100.7:1", "[::ffff:192.0.2.1]:8080", nil, "http://192.0.2.1:8080"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := withLocal(request(c.peer, c.headers...), c.local)
			r.Host = "evil.example"
			if got := serve(New(c.public, trusted), r); got != c.want {
				t.Fatalf("base %q, want %q", got, c.want)
			}
		})
	}
	if got := New("", nil).Base(request("198.51.100.7:1")); got != "" {
		t.Fatalf("without a local address: %q", got)
	}
}

func TestOriginHosts(t *testing.T) {
	f := New("https://[2001:db8::1]:8443", mustPrefixes(t, "10.0.0.0/8"))
	r := request("10.0.0.2:1", "X-Forwarded-Host", "relay.example.com")
	var got []string
	f.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = f.OriginHosts(r) })).ServeHTTP(nil, r)
	if len(got) != 2 {
		t.Fatalf("origins %q", got)
	}
	for i, host := range []string{"[2001:db8::1]:8443", "relay.example.com"} {
		if ok, err := path.Match(got[i], host); !ok || err != nil {
			t.Errorf("pattern %q does not match %q: %v", got[i], host, err)
		}
	}
}

// FuzzResolve: any headers from any peer resolve without panicking, to a
// valid client address, scheme and host.
func FuzzResolve(f *testing.F) {
	f.Add("10.0.0.2:1", "6.6.6.6, 203.0.113.1", "https", "relay.example.com")
	f.Add("198.51.100.7:1", "[::1]:80,,, ", "HTTP", "[::1]:99")
	front := New("", mustPrefixes(f, "10.0.0.0/8"))
	f.Fuzz(func(t *testing.T, peer, xff, proto, host string) {
		r := request(peer, "X-Forwarded-For", xff, "X-Forwarded-Proto", proto, "X-Forwarded-Host", host)
		v := front.Resolve(r)
		if v.Scheme != "http" && v.Scheme != "https" {
			t.Fatalf("scheme %q", v.Scheme)
		}
		if v.Host != "" && !validHost(v.Host) {
			t.Fatalf("host %q", v.Host)
		}
		if !v.Proxied && (v.Host != "" || v.Scheme != "http") {
			t.Fatalf("untrusted peer: %+v", v)
		}
		if _, err := netip.ParseAddr(v.ClientIP); v.Proxied && err != nil {
			t.Fatalf("client %q", v.ClientIP)
		}
	})
}
