package listing

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

var cols = []string{"name", "email", "type"}

func TestParseRoundTrip(t *testing.T) {
	v, _ := url.ParseQuery("f.email=Acme&v.type=admin&v.type=&v.type=admin&sort=-name&page=3&size=50&f.name=")
	q, err := Parse(v, cols)
	if err != nil {
		t.Fatal(err)
	}
	want := Query{Filters: []Filter{{Col: "email", Text: "Acme"}, {Col: "type", Values: []string{"", "admin"}}},
		Sort: "name", Desc: true, Page: 3, Size: 50}
	if !reflect.DeepEqual(q, want) {
		t.Fatalf("parsed %+v, want %+v", q, want)
	}
	if !q.Filter("type").Blanks() || q.Filter("email").Blanks() {
		t.Fatal("Blanks is the empty value")
	}
	if q.Offset() != 100 {
		t.Fatalf("offset %d", q.Offset())
	}
	again, err := Parse(q.Values(), cols)
	if err != nil || !reflect.DeepEqual(again, q) {
		t.Fatalf("round trip: %+v, %v", again, err)
	}
	// Chips: removing one value or the text keeps the rest, back on page 1.
	if r := q.WithoutValue("type", ""); !reflect.DeepEqual(r.Filters[1].Values, []string{"admin"}) || r.Page != 1 {
		t.Fatalf("without Blanks: %+v", r)
	}
	if r := q.WithoutText("email"); len(r.Filters) != 1 || r.Filters[0].Col != "type" {
		t.Fatalf("without text: %+v", r)
	}
	if r := q.Without("type"); len(r.Filters) != 1 || len(q.Filters) != 2 {
		t.Fatalf("without must not change q: %+v %+v", r, q)
	}
	if r := q.SortedBy("name"); r.Sort != "name" || r.Desc {
		t.Fatalf("second click on a descending column sorts ascending: %+v", r)
	}
	if r := (Query{Sort: "name"}).SortedBy("name"); !r.Desc {
		t.Fatal("second click on an ascending column sorts descending")
	}
	if (Query{Page: 1, Size: 25}).Encode() != "" {
		t.Fatal("the default query encodes to nothing")
	}
	if p := (Query{Size: 25}).Pages(51); p != 3 {
		t.Fatalf("pages %d", p)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, raw := range []string{
		"f.password_hash=x", "sort=password_hash", "v.secret=", "page=0", "page=-1", "page=x", "page=99999999",
		"size=7", "f.name=" + strings.Repeat("a", 101), "f.name=a%00b", "v.type=%ff",
		strings.Repeat("v.type=a&", 101),
	} {
		v, _ := url.ParseQuery(raw)
		if _, err := Parse(v, cols); err == nil {
			t.Errorf("%.60s: accepted", raw)
		}
	}
}
