package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/internal/version"

	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/frontdoor"
	"github.com/tandem-rc/tandem/relay/mail"
	"github.com/tandem-rc/tandem/relay/metrics"
)

type serveOptions struct {
	listen      string
	data        string
	db          string
	publicURL   string
	downloads   string
	auditMonths int
	keyDays     int
	keyMaxDays  int
	mail        string
	turnListen  string
	turnHost    string
	turnRelayIP string
	turnBind    string
	turnServers []string
	logLevel    string
	// Reverse proxies and connection caps (relay/frontdoor).
	trustedProxies []string
	maxConns       int
	maxConnsPerSrc int
	// TLS: certificate files or ACME (relay/tlsconf).
	tls           tlsOptions
	metricsListen string
	sms           smsOptions
}

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the relay (HTTP API, WebSockets and TURN)",
		Long: `Run the relay until SIGINT or SIGTERM.

The embedded TURN server listens on --turn-listen (UDP and TCP, same port;
"off" disables it) and is advertised to peers as --turn-host. Its
credentials follow the TURN REST convention with the secret in
DATA/turn.secret, so coturn (use-auth-secret, static-auth-secret = that
file's content) can replace it: name it with --turn-server (repeatable)
and pass --turn-listen off. With PostgreSQL the nodes share the first
node's secret (table cluster_identity).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	f.StringVar(&o.data, "data", "./var/relay", "data directory (keys, database)")
	f.StringVar(&o.db, "db", "", dbUsage)
	f.StringVar(&o.publicURL, "public-url", "", "URL clients use to reach the relay, in every link it writes (default: a trusted proxy's X-Forwarded-Proto/-Host, else the address each connection reached; never the Host header)")
	f.StringArrayVar(&o.trustedProxies, "trusted-proxy", nil, "CIDR or address of a reverse proxy whose X-Forwarded-For/-Proto/-Host count (repeatable)")
	f.IntVar(&o.maxConnsPerSrc, "max-conns-per-source", 512, "concurrent connections per client address (IPv6: per /64); trusted proxies are exempt")
	f.IntVar(&o.maxConns, "max-conns", 10000, "concurrent connections in all")
	f.StringVar(&o.downloads, "downloads", "", "directory of Host installers (make packages' dist/) served by deployment package links, /d/KEY (default DATA/downloads)")
	f.IntVar(&o.auditMonths, "audit-retention-months", 6, "months audit events and reports are kept")
	f.IntVar(&o.keyDays, "api-key-days", 90, "days an API key lives when its creator asks for no expiry")
	f.IntVar(&o.keyMaxDays, "api-key-max-days", 365, "the longest lifetime, in days, an API key may be given")
	o.sms.addFlags(f)
	f.StringVar(&o.mail, "mail", "", "where email goes: outbox:/dir (.eml files; default DATA/outbox) or smtp://user@host:587?from=...&password_env=VAR (smtps:// for TLS on 465); SMTP mail a server refuses for now waits in DATA/mail-spool")
	f.StringVar(&o.turnListen, "turn-listen", "", `TURN listen address, UDP and TCP (default LISTEN-HOST:3478; "off" disables)`)
	f.StringVar(&o.turnHost, "turn-host", "", "TURN host or IP advertised to peers (default the TURN listen host, 127.0.0.1 for 0.0.0.0)")
	f.StringVar(&o.turnRelayIP, "turn-relay-ip", "", "IP TURN allocations are announced on (default --turn-host when it is an IP)")
	f.StringArrayVar(&o.turnServers, "turn-server", nil, "external TURN server sharing the relay's TURN secret (coturn use-auth-secret), advertised to peers with 12-hour credentials: turn:HOST:PORT?transport=udp|tcp or turns:HOST:PORT?transport=tcp (repeatable)")
	f.StringVar(&o.turnBind, "turn-relay-bind", "", "IP TURN relay sockets bind to (default the TURN listen host, 0.0.0.0 for any)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	o.tls.register(f)
	f.StringVar(&o.metricsListen, "metrics-listen", "", "address serving Prometheus /metrics, e.g. 127.0.0.1:9090 (default off; keep it private)")
	return cmd
}

// turnSetup is the resolved TURN configuration and its sockets.
type turnSetup struct {
	cfg relay.TURNConfig
	udp net.PacketConn
	tcp net.Listener
	tls net.Listener // TURN over TLS, or nil
}

func (t *turnSetup) close() {
	if t.udp != nil {
		t.udp.Close()
	}
	if t.tcp != nil {
		t.tcp.Close()
	}
	if t.tls != nil {
		t.tls.Close()
	}
}

func setupTURN(o serveOptions, httpHost string, log *slog.Logger) (*turnSetup, error) {
	if o.turnListen == "off" {
		return &turnSetup{}, nil
	}
	addr := o.turnListen
	if addr == "" {
		addr = net.JoinHostPort(httpHost, "3478")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--turn-listen %q: %w", addr, err)
	}
	udp, tcp, err := listenTURN(addr)
	if err != nil {
		return nil, err
	}
	t := &turnSetup{udp: udp, tcp: tcp}
	hostIP := net.ParseIP(host)
	specific := hostIP != nil && !hostIP.IsUnspecified()

	adv := o.turnHost
	if adv == "" {
		if specific {
			adv = host
		} else {
			adv = "127.0.0.1"
			log.Warn("TURN is advertised as 127.0.0.1: pass --turn-host with the relay's public name or IP for remote peers")
		}
	}
	var relayIP net.IP
	switch {
	case o.turnRelayIP != "":
		if relayIP = net.ParseIP(o.turnRelayIP); relayIP == nil || relayIP.IsUnspecified() {
			t.close()
			return nil, fmt.Errorf("--turn-relay-ip %q is not a usable IP address", o.turnRelayIP)
		}
	case net.ParseIP(adv) != nil && !net.ParseIP(adv).IsUnspecified():
		relayIP = net.ParseIP(adv)
	case specific:
		relayIP = hostIP
	default:
		t.close()
		return nil, errors.New("TURN needs the relay's public IP: pass --turn-relay-ip (or an IP as --turn-host), or --turn-listen off")
	}
	bind := o.turnBind
	if bind == "" {
		if specific {
			bind = host
		} else {
			bind = "0.0.0.0"
		}
	}
	t.cfg = relay.TURNConfig{
		Host: adv, Port: udp.LocalAddr().(*net.UDPAddr).Port, RelayIP: relayIP, RelayBind: bind,
	}
	return t, nil
}

// listenTURN opens UDP and TCP on the same port (a free one for port 0).
func listenTURN(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	for range 10 {
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, nil, fmt.Errorf("TURN UDP: %w", err)
		}
		p := strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port)
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != "0" {
			return nil, nil, fmt.Errorf("TURN TCP: %w", err)
		}
	}
	return nil, nil, errors.New("TURN: no port free for both UDP and TCP")
}

func serve(ctx context.Context, o serveOptions, stdout, stderr io.Writer) error {
	level, err := parseLevel(o.logLevel)
	if err != nil {
		return err
	}
	if o.auditMonths < 1 || o.auditMonths > 1200 {
		return fmt.Errorf("--audit-retention-months %d: want 1 to 1200", o.auditMonths)
	}
	if o.keyMaxDays < 1 || o.keyMaxDays > 3650 || o.keyDays < 1 || o.keyDays > o.keyMaxDays {
		return fmt.Errorf("--api-key-days %d, --api-key-max-days %d: want 1 <= days <= max-days <= 3650", o.keyDays, o.keyMaxDays)
	}
	handler := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	log := slog.New(handler)

	trusted, err := frontdoor.ParsePrefixes(o.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	public := o.publicURL
	if u, err := url.Parse(public); public != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return fmt.Errorf("--public-url %q: want http(s)://host[:port]", public)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	tl, err := o.tls.open(o.data, log)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	if tl != nil {
		base = "https://" + ln.Addr().String()
		if public == "" {
			public = publicHTTPS(tl, ln)
		}
	}
	if public == "" && ln.Addr().(*net.TCPAddr).IP.IsUnspecified() {
		// Links use the address each connection reached (or a trusted
		// proxy's forwarded host): right for one address, a guess for many.
		log.Warn("no --public-url: links use a trusted proxy's forwarded host, else the address each visitor's connection reached; pass --public-url with the name clients use")
	}
	httpHost, _, _ := net.SplitHostPort(o.listen)
	turnS, err := setupTURN(o, httpHost, log)
	if err != nil {
		return err
	}
	turnS.cfg.External = o.turnServers
	defer turnS.close()
	if err := o.tls.turn(turnS, tl, public); err != nil {
		return err
	}

	sender, runMail, err := openMail(o, log)
	if err != nil {
		return err
	}
	smsProvider, err := o.sms.provider(sender)
	if err != nil {
		return err
	}
	rel, err := relay.New(relay.Config{
		DataDir: o.data, DB: o.db, Logger: log, PublicURL: public, TrustedProxies: trusted, TURN: turnS.cfg, Version: version.Version,
		Downloads: downloadsDir(o), AuditRetentionMonths: o.auditMonths, Mail: sender, SMS: smsProvider,
		APIKeyDays: o.keyDays, APIKeyMaxDays: o.keyMaxDays,
	})
	if err != nil {
		return err
	}
	defer rel.Close()
	if runMail != nil {
		mctx, mcancel := context.WithCancel(ctx)
		defer mcancel()
		go runMail(mctx)
	}

	httpHandler := rel.Handler()
	if tl != nil {
		httpHandler = tl.HSTS(httpHandler)
		stopRedirects, err := o.tls.serveRedirects(tl, public, ln, log)
		if err != nil {
			return err
		}
		defer stopRedirects()
		go tl.Warm(ctx)
	}
	srv := frontdoor.NewServer(httpHandler, frontdoor.ServerConfig{ErrorLog: slog.NewLogLogger(handler, slog.LevelDebug)})
	// Connections are counted before any TLS handshake: TLS wraps the cap.
	var capped net.Listener = frontdoor.LimitListener(ln, frontdoor.ConnLimits{PerSource: o.maxConnsPerSrc, Total: o.maxConns,
		Front: frontdoor.New(public, trusted), Log: log})
	if tl != nil {
		capped = tls.NewListener(capped, tl.Config())
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(capped) }()
	if o.metricsListen != "" {
		mln, err := net.Listen("tcp", o.metricsListen)
		if err != nil {
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		msrv := metrics.NewServer(rel.MetricsHandler())
		go func() { httpErr <- msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("metrics serving", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	turnCtx, stopTURN := context.WithCancel(ctx)
	defer stopTURN()
	turnErr := make(chan error, 1)
	if turnS.udp != nil {
		go func() { turnErr <- rel.ServeTURN(turnCtx, turnS.udp, turnS.tcp, turnS.tls) }()
	}
	fmt.Fprintf(stdout, "tandem-relay: serving %s\n", base)
	log.Info("relay serving", "url", base, "public_url", public, "downloads", downloadsDir(o), "data", o.data, "db", rel.Store().Engine(),
		"version", version.Version)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-httpErr:
		runErr = fmt.Errorf("http: %w", err)
	case err := <-turnErr:
		if err != nil {
			runErr = err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stopTURN()
	if err := rel.Close(); err != nil {
		log.Warn("closing relay", "err", err)
	}
	return runErr
}

// downloadsDir is --downloads, or DATA/downloads when that exists.
func downloadsDir(o serveOptions) string {
	if o.downloads != "" {
		return o.downloads
	}
	d := filepath.Join(o.data, "downloads")
	if fi, err := os.Stat(d); err == nil && fi.IsDir() {
		return d
	}
	return ""
}

// openMail opens --mail: the outbox by default; SMTP behind a spool so an
// outage delays mail instead of losing it. runMail (nil for the outbox)
// retries the spool until ctx ends.
func openMail(o serveOptions, log *slog.Logger) (mail.Sender, func(context.Context), error) {
	spec := o.mail
	if spec == "" {
		spec = "outbox:" + filepath.Join(o.data, "outbox")
	}
	s, err := mail.Open(spec, log)
	if err != nil {
		return nil, nil, fmt.Errorf("--mail: %w", err)
	}
	if strings.HasPrefix(spec, "outbox:") {
		return s, nil, nil
	}
	q, err := mail.NewQueue(mail.QueueConfig{Dir: filepath.Join(o.data, "mail-spool")}, s, log)
	if err != nil {
		return nil, nil, fmt.Errorf("--mail: spool: %w", err)
	}
	return q, func(ctx context.Context) { _ = q.Run(ctx) }, nil
}
