package safetext

import (
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	ok := []string{"", "Acme Corp.", "Zoë Ångström", "שלום", "مرحبا", "日本語", "tab-free: a b", "emoji 🙂"}
	for _, v := range ok {
		if err := Text(v, 64); err != nil {
			t.Errorf("Text(%q) refused: %v", v, err)
		}
	}
	bad := map[string]string{
		"nul\x00":          "control",
		"new\nline":        "control",
		"del\x7f":          "control",
		"c1\u0085":         "C1",
		"csi\u009b31m":     "C1",
		"rlo\u202efdp.exe": "bidirectional",
		"lre\u202a":        "bidirectional",
		"isolate\u2066":    "bidirectional",
		"pdi\u2069":        "bidirectional",
		"lrm\u200e":        "bidirectional",
		"rlm\u200f":        "bidirectional",
		"alm\u061c":        "bidirectional",
		"Ad\u200bmin":      "zero-width",
		"zwnj\u200c":       "zero-width",
		"zwj\u200d":        "zero-width",
		"wj\u2060":         "zero-width",
		"bom\ufeff":        "zero-width",
		"ls\u2028":         "separator",
		"shy\u00ad":        "invisible",
		"tag\U000e0041":    "invisible",
		"bad\xffutf8":      "UTF-8",
		"fffd\ufffd":       "UTF-8",
	}
	for v, want := range bad {
		err := Text(v, 64)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Text(%q) = %v, want an error about %q", v, err, want)
		}
	}
	if err := Text(strings.Repeat("a", 65), 64); err == nil {
		t.Error("65 bytes accepted with max 64")
	}
}

func TestName(t *testing.T) {
	for _, v := range []string{"", " ", " lead", "trail ", "\u200b"} {
		if Name(v, 64) == nil {
			t.Errorf("Name(%q) accepted", v)
		}
	}
	if err := Name("Front office", 64); err != nil {
		t.Error(err)
	}
}

func FuzzText(f *testing.F) {
	f.Add("Acme\u202e")
	f.Fuzz(func(t *testing.T, v string) {
		if Text(v, 1<<20) != nil {
			return
		}
		for _, r := range v {
			if Refused(r) != "" {
				t.Fatalf("accepted %q with %U", v, r)
			}
		}
	})
}
