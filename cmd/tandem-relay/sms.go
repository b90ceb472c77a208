package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/tandem-rc/tandem/relay/mail"
	"github.com/tandem-rc/tandem/relay/sms"
)

// smsOptions are the --sms-* flags: the provider of SMS sign-in codes.
type smsOptions struct {
	url, body, contentType, method, email string
	headers                               []string
}

func (o *smsOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.url, "sms-gateway-url", "", "SMS codes through an HTTP gateway: its URL; {phone} (E.164) and {message} are filled in, query-escaped")
	f.StringVar(&o.method, "sms-gateway-method", "POST", "HTTP method of the SMS gateway (GET, POST or PUT)")
	f.StringVar(&o.body, "sms-gateway-body", "", `body template of the SMS gateway, e.g. {"to":"{phone}","text":"{message}"}; escaped per --sms-gateway-content-type (JSON or form)`)
	f.StringVar(&o.contentType, "sms-gateway-content-type", "", "Content-Type of the SMS gateway's body (application/json, application/x-www-form-urlencoded, ...)")
	f.StringArrayVar(&o.headers, "sms-gateway-header", nil, `header for the SMS gateway, "Name: value"; a value "env:VAR" is read from the environment (repeatable)`)
	f.StringVar(&o.email, "sms-email-address", "", "SMS codes through an email-to-SMS address instead, e.g. {phone}@sms.example.net ({phone} without +), sent with --mail")
}

// provider builds the SMS provider of o (nil: no SMS factor).
func (o smsOptions) provider(sender mail.Sender) (sms.Provider, error) {
	switch {
	case o.url != "" && o.email != "":
		return nil, errors.New("--sms-gateway-url and --sms-email-address: choose one")
	case o.email != "":
		if !strings.Contains(o.email, "{phone}") || !strings.Contains(o.email, "@") {
			return nil, errors.New("--sms-email-address: an address with {phone}, like {phone}@sms.example.net")
		}
		if sender == nil {
			return nil, errors.New("--sms-email-address needs --mail")
		}
		return &sms.EmailGateway{Address: o.email, Mail: func(ctx context.Context, to, subject, body string) error {
			return sender.Send(ctx, mail.Message{To: []string{to}, Subject: subject, Text: body})
		}}, nil
	case o.url == "":
		return nil, nil
	}
	g := &sms.HTTPGateway{URL: o.url, Method: strings.ToUpper(o.method), Body: o.body, ContentType: o.contentType, Header: http.Header{}}
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--sms-gateway-header %q: want \"Name: value\"", h)
		}
		value = strings.TrimSpace(value)
		if v, ok := strings.CutPrefix(value, "env:"); ok {
			value = os.Getenv(v)
			if value == "" {
				return nil, fmt.Errorf("--sms-gateway-header %s: the environment variable %s is empty", name, v)
			}
		}
		g.Header.Add(strings.TrimSpace(name), value)
	}
	if err := g.Check(); err != nil {
		return nil, err
	}
	return g, nil
}
