// Package listing is the query of a Portal listing (spec 2.2.1): filters
// on columns (text, value lists and Blanks), sorting and paging. The same
// URL parameters serve the Portal's pages and the API, so a filtered page
// is a link that can be bookmarked and shared, and the store runs the
// query in SQL.
//
// Parameters: f.COL=text (contains, case-insensitive), v.COL=value
// (repeatable: any of them; an empty value is Blanks), sort=COL or
// sort=-COL (descending), page=N (from 1) and size=N.
package listing

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Page sizes a listing offers; DefaultSize when none is asked.
var Sizes = []int{10, 25, 50, 100}

const (
	DefaultSize = 25
	maxText     = 100 // bytes of a text filter
	maxValues   = 50  // values of one value-list filter
	maxPage     = 1e6 // bounds OFFSET
	maxParams   = 100 // parameters in all
	maxValueLen = 200 // bytes of one value
)

// Filter narrows one column: rows whose column contains Text, and (when
// Values is not empty) equals one of Values, where "" stands for Blanks.
type Filter struct {
	Col    string
	Text   string
	Values []string
}

// Blanks reports whether the filter lets empty cells through.
func (f Filter) Blanks() bool { return slices.Contains(f.Values, "") }

// Query is a listing's filters, order and page.
type Query struct {
	Filters []Filter // at most one per column, in column order
	Sort    string   // a column key; "" is the listing's default order
	Desc    bool
	Page    int // from 1
	Size    int
}

// Offset is the number of rows before the page.
func (q Query) Offset() int { return (q.Page - 1) * q.Size }

// Filter returns the filter of col (zero when none).
func (q Query) Filter(col string) Filter {
	for _, f := range q.Filters {
		if f.Col == col {
			return f
		}
	}
	return Filter{Col: col}
}

// Parse reads a query from URL parameters. cols lists the columns that may
// be filtered and sorted, in display order; anything else is an error, so
// a typo does not silently show everything.
func Parse(v url.Values, cols []string) (Query, error) {
	q := Query{Page: 1, Size: DefaultSize}
	n := 0
	for _, vs := range v {
		n += len(vs)
	}
	if n > maxParams {
		return q, fmt.Errorf("too many parameters (at most %d)", maxParams)
	}
	byCol := map[string]*Filter{}
	get := func(col string) (*Filter, error) {
		if !slices.Contains(cols, col) {
			return nil, fmt.Errorf("no column %q to filter (columns: %s)", col, strings.Join(cols, ", "))
		}
		if byCol[col] == nil {
			byCol[col] = &Filter{Col: col}
		}
		return byCol[col], nil
	}
	for key, vs := range v {
		switch {
		case key == "sort":
			s := vs[len(vs)-1]
			desc := strings.HasPrefix(s, "-")
			s = strings.TrimPrefix(s, "-")
			if s != "" && !slices.Contains(cols, s) {
				return q, fmt.Errorf("no column %q to sort by", s)
			}
			q.Sort, q.Desc = s, desc && s != ""
		case key == "page" || key == "size":
			i, err := strconv.Atoi(vs[len(vs)-1])
			if err != nil || i < 1 || i > maxPage {
				return q, fmt.Errorf("%s must be a whole number from 1", key)
			}
			if key == "page" {
				q.Page = i
			} else if !slices.Contains(Sizes, i) {
				return q, fmt.Errorf("size must be one of %v", Sizes)
			} else {
				q.Size = i
			}
		case strings.HasPrefix(key, "f."):
			f, err := get(key[2:])
			if err != nil {
				return q, err
			}
			t := strings.TrimSpace(vs[len(vs)-1])
			if len(t) > maxText || !clean(t) {
				return q, fmt.Errorf("the filter on %s must be at most %d characters of text", f.Col, maxText)
			}
			f.Text = t
		case strings.HasPrefix(key, "v."):
			f, err := get(key[2:])
			if err != nil {
				return q, err
			}
			for _, s := range vs {
				if len(s) > maxValueLen || !clean(s) {
					return q, fmt.Errorf("a value of the filter on %s is not valid", f.Col)
				}
				if !slices.Contains(f.Values, s) {
					f.Values = append(f.Values, s)
				}
			}
			if len(f.Values) > maxValues {
				return q, fmt.Errorf("at most %d values in the filter on %s", maxValues, f.Col)
			}
		}
	}
	for _, c := range cols {
		if f := byCol[c]; f != nil && (f.Text != "" || len(f.Values) > 0) {
			slices.Sort(f.Values)
			q.Filters = append(q.Filters, *f)
		}
	}
	return q, nil
}

func clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Values encodes q as URL parameters (Parse's inverse); defaults are left
// out so links stay short.
func (q Query) Values() url.Values {
	v := url.Values{}
	for _, f := range q.Filters {
		if f.Text != "" {
			v.Set("f."+f.Col, f.Text)
		}
		for _, s := range f.Values {
			v.Add("v."+f.Col, s)
		}
	}
	if q.Sort != "" {
		s := q.Sort
		if q.Desc {
			s = "-" + s
		}
		v.Set("sort", s)
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.Size != 0 && q.Size != DefaultSize {
		v.Set("size", strconv.Itoa(q.Size))
	}
	return v
}

// Encode is Values as a query string ("" for the default query).
func (q Query) Encode() string { return q.Values().Encode() }

// Without returns q without the filter of col, back on page 1.
func (q Query) Without(col string) Query {
	q.Filters = slices.DeleteFunc(slices.Clone(q.Filters), func(f Filter) bool { return f.Col == col })
	q.Page = 1
	return q
}

// WithoutValue returns q without one value of col's filter, back on page 1.
func (q Query) WithoutValue(col, value string) Query {
	out := q
	out.Filters = nil
	for _, f := range q.Filters {
		if f.Col == col {
			f.Values = slices.DeleteFunc(slices.Clone(f.Values), func(s string) bool { return s == value })
			if f.Text == "" && len(f.Values) == 0 {
				continue
			}
		}
		out.Filters = append(out.Filters, f)
	}
	out.Page = 1
	return out
}

// WithoutText returns q without the text part of col's filter.
func (q Query) WithoutText(col string) Query {
	out := q
	out.Filters = nil
	for _, f := range q.Filters {
		if f.Col == col {
			f.Text = ""
			if len(f.Values) == 0 {
				continue
			}
		}
		out.Filters = append(out.Filters, f)
	}
	out.Page = 1
	return out
}

// SortedBy returns q sorted by col: ascending first, then descending when
// it is already sorted ascending by col.
func (q Query) SortedBy(col string) Query {
	q.Desc = q.Sort == col && !q.Desc
	q.Sort = col
	q.Page = 1
	return q
}

// AtPage returns q on page p.
func (q Query) AtPage(p int) Query {
	q.Page = max(p, 1)
	return q
}

// Pages is the number of pages for total rows (at least 1).
func (q Query) Pages(total int) int {
	if total <= 0 || q.Size <= 0 {
		return 1
	}
	return (total + q.Size - 1) / q.Size
}
