package filters

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// FuzzParse feeds Parse any filters parameter a client could send. A bad
// one is an Invalid error (400), never a panic; a good one means the same
// when sent again in the list form.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"name":{"web":true}}`, `{"name":["web"]}`, `{"label":{"a=b":true,"c":false}}`,
		`{"name":{"web":"yes"}}`, `{"name":[1]}`, `[]`, `null`, `{"a":null}`, `{"a":{}}`, `{"a":[]}`,
		`{"name":{"web":true}`, `{"\u0000":["\ud800"]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if errdefs.KindOf(err) != errdefs.KindInvalid {
				t.Fatalf("Parse(%q): got error %v of kind %v, want Invalid", s, err, errdefs.KindOf(err))
			}
			return
		}
		list, err := json.Marshal(a.Map())
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(string(list))
		if err != nil {
			t.Fatalf("Parse(%s), the list form of Parse(%q): %v", list, s, err)
		}
		if !reflect.DeepEqual(again.Map(), a.Map()) {
			t.Fatalf("Parse(%q) = %v, but its list form %s parses as %v", s, a.Map(), list, again.Map())
		}
	})
}
