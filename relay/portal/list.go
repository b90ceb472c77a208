package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tandem-rc/tandem/relay/listing"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The generic listing (spec 2.2.1): a filter on each column header (text,
// a value list and Blanks), the filters shown as chips above the list and
// removable one by one, reload-and-clear, sorting, paging with a page
// size, Choose columns and multi-select. The query lives in the page's
// URL and is passed to the API unchanged: filtering, sorting and paging
// run in the store.

// column describes a listing column.
type column struct {
	Key, Label string
	Text       bool     // text filter ("contains")
	Values     []option // value-list filter
	Blanks     bool     // offers Blanks
	Sort       bool
	Default    bool // visible until the user chooses columns
}

type option struct{ Value, Label string }

// listView is what the listing template draws.
type listView struct {
	Action    string // the page's path
	Name      string // listing name: Choose columns and element ids
	Query     listing.Query
	Cols      []colView // visible
	All       []colView // every column, for Choose columns
	Rows      []row
	Total     int
	From, To  int
	Pages     int
	Chips     []chip
	ClearHref string
	Sizes     []sizeLink
	Prev      string
	Next      string
	Actions   bool   // rows have an actions cell
	RowData   string // names rows' data- attribute (a lower-case word), if any
	Select    bool   // rows have checkboxes
	SelForm   string // the form they belong to
	Error     string // the API refused the query
	Empty     string
}

type colView struct {
	column
	Visible   bool
	SortHref  string
	Sorted    string // "ascending", "descending" or ""
	Filtered  bool
	TextValue string
	Options   []optView
	Hidden    []kv // the query without this column's filter, for its form
}

type optView struct {
	option
	Checked bool
}

type kv struct{ K, V string }

type row struct {
	ID         string
	Label      string // for the checkbox's accessible name
	Cells      []cell
	Selectable bool
	Checked    bool // still selected after a refused action
	Actions    []rowAction
	Data       string // the value of the row's data-(listView.RowData) attribute
}

// rowAction is a button in a row's actions cell: a link, or (Post set) a
// form posting Name=Value to Post, and op=Op when Op is set.
type rowAction struct {
	Label, Aria, Class string
	Href               string
	Post, Name, Value  string
	Op                 string
}

type cell struct {
	Text  string
	Href  string
	Class string
	List  []string
	Sub   []string // muted lines under the text
}

type chip struct{ Label, Href string }

type sizeLink struct {
	Size    int
	Href    string
	Current bool
}

// newList builds the listing around the rows of one page.
func newList(r *http.Request, name, action string, cols []column, visible []string, q listing.Query, total int) *listView {
	lv := &listView{Action: action, Name: name, Query: q, Total: total, Pages: q.Pages(total)}
	href := func(q listing.Query) string {
		if e := q.Encode(); e != "" {
			return action + "?" + e
		}
		return action
	}
	for _, c := range cols {
		cv := colView{column: c, Visible: slices.Contains(visible, c.Key)}
		if c.Sort {
			cv.SortHref = href(q.SortedBy(c.Key))
			if q.Sort == c.Key {
				cv.Sorted = "ascending"
				if q.Desc {
					cv.Sorted = "descending"
				}
			}
		}
		f := q.Filter(c.Key)
		cv.Filtered = f.Text != "" || len(f.Values) > 0
		cv.TextValue = f.Text
		for _, o := range c.Values {
			cv.Options = append(cv.Options, optView{o, slices.Contains(f.Values, o.Value)})
		}
		if c.Blanks {
			cv.Options = append(cv.Options, optView{option{"", "(Blanks)"}, f.Blanks()})
		}
		for k, vs := range q.Without(c.Key).Values() {
			if k == "page" {
				continue
			}
			for _, v := range vs {
				cv.Hidden = append(cv.Hidden, kv{k, v})
			}
		}
		slices.SortFunc(cv.Hidden, func(a, b kv) int { return strings.Compare(a.K+a.V, b.K+b.V) })
		lv.All = append(lv.All, cv)
		if cv.Visible {
			lv.Cols = append(lv.Cols, cv)
		}
		// Chips: the text and each value of a filter, removable one by one.
		if f.Text != "" {
			lv.Chips = append(lv.Chips, chip{c.Label + " contains “" + f.Text + "”", href(q.WithoutText(c.Key))})
		}
		for _, v := range f.Values {
			label := "(Blanks)"
			for _, o := range c.Values {
				if o.Value == v {
					label = o.Label
				}
			}
			if v != "" && label == "(Blanks)" {
				label = v
			}
			lv.Chips = append(lv.Chips, chip{c.Label + ": " + label, href(q.WithoutValue(c.Key, v))})
		}
	}
	clear := listing.Query{Size: q.Size, Page: 1}
	lv.ClearHref = href(clear)
	for _, s := range listing.Sizes {
		sq := q
		sq.Size, sq.Page = s, 1
		lv.Sizes = append(lv.Sizes, sizeLink{s, href(sq), s == q.Size})
	}
	if q.Page > 1 {
		lv.Prev = href(q.AtPage(min(q.Page-1, lv.Pages)))
	}
	if q.Page < lv.Pages {
		lv.Next = href(q.AtPage(q.Page + 1))
	}
	if total > 0 {
		lv.From = q.Offset() + 1
		lv.To = min(q.Offset()+q.Size, total)
	}
	return lv
}

// fetchList builds the listing `name` at action from the page's URL
// query: it asks the API at apiPath (an account path) for that page, into
// out. A query the API refuses shows its message over an empty list;
// other failures are returned.
func (p *Portal) fetchList(r *http.Request, s *session, name, action string, cols []column, filterKeys []string, apiPath string, out any) (*listView, error) {
	v, _ := url.ParseQuery(r.URL.RawQuery)
	q, qerr := listing.Parse(v, filterKeys)
	total := 0
	if qerr == nil {
		api := q.Values()
		api.Set("size", strconv.Itoa(q.Size)) // always a page
		h, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, apiPath+"?"+api.Encode()), nil, out)
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			qerr = errors.New(ae.Message)
		case err != nil:
			return nil, err
		default:
			total, _ = strconv.Atoi(h.Get("X-Total-Count"))
		}
	}
	lv := newList(r, name, action, cols, p.visibleColumns(r, s, name, listings[name]), q, total)
	if qerr != nil {
		lv.Error = "This filter cannot be used: " + qerr.Error() + "."
	}
	return lv, nil
}

// visibleColumns is the user's Choose columns for a listing (kept by the
// API per user: the same on every browser), or the defaults.
func (p *Portal) visibleColumns(r *http.Request, s *session, list string, cols []column) []string {
	var def []string
	for _, c := range cols {
		if c.Default {
			def = append(def, c.Key)
		}
	}
	var chosen map[string][]string
	if _, err := p.call(r, s.Token, "GET", "/api/v1/me/columns", nil, &chosen); err != nil {
		p.log.Warn("portal: reading chosen columns", "err", err)
		return def
	}
	var out []string
	for _, k := range chosen[list] {
		if slices.ContainsFunc(cols, func(c column) bool { return c.Key == k }) && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

// listings names the listings whose columns can be chosen, with theirs.
var listings = map[string][]column{"users": userColumns, "devices": deviceColumns, "groups": groupColumns, "roles": roleColumns, "applications": appColumns, "packages": packageColumns,
	"assignments": assignmentColumns}

// handleChooseColumns stores a listing's chosen columns and goes back.
func (p *Portal) handleChooseColumns(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	list := r.PostFormValue("list")
	cols, ok := listings[list]
	if !ok {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "There is no such listing.")
		return
	}
	var keys []string
	for _, c := range cols {
		if slices.Contains(r.PostForm["col"], c.Key) {
			keys = append(keys, c.Key)
		}
	}
	var ae *apiError
	if len(keys) == 0 {
		flash(w, "Choose at least one column.")
	} else if _, err := p.call(r, s.Token, "PUT", "/api/v1/me/columns/"+list, wire.Columns{Columns: keys}, nil); errors.As(err, &ae) {
		flash(w, ae.Message)
	} else if err != nil {
		p.fail(w, r, err)
		return
	}
	back := localNext(r.PostFormValue("back"))
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func itoa(i int) string { return strconv.Itoa(i) }
