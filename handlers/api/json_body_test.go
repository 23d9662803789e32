package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRepeatedMember(t *testing.T) {
	for body, want := range map[string]string{
		`{"a":1,"b":2}`:                   "",
		`{"":1,"":2}`:                     `""`,
		`{"a":{"":{},"":null}}`:           `a.""`,
		`{"a":{"x":1},"b":{"x":1}}`:       "",
		`{"a":[{"x":1},{"x":2}]}`:         "",
		`{"a":1,"a":2}`:                   "a",
		`{"a":1,"A":2}`:                   "A",
		`{"k":1,"\u212a":2}`:              "\u212a", // Kelvin sign: encoding/json matches it to "k"
		`{"a":{"b":[1,{"c":{},"c":[]}]}}`: "a.b[1].c",
		`{"a":"{\"x\":1,\"x\":2}"}`:       "",
		`{"x":[[[{"y":1,"y":1}]]]}`:       "x[0][0][0].y",
		`{"` + strings.Repeat("n", 200) + `":1,"` + strings.Repeat("n", 200) + `":2}`: strings.Repeat("n", maxNamedPath) + "…",
	} {
		if got, repeated := repeatedMember([]byte(body)); got != want || repeated != (want != "") {
			t.Errorf("repeatedMember(%s) = %q, want %q", body, got, want)
		}
	}
}

// Whatever the body, repeatedMember never panics; a valid object with one
// of its names appended again is always caught.
func FuzzRepeatedMember(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,2,{"c":3}]}}`, `[`, `{"a":`, `{}`, strings.Repeat("[", 1000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		repeatedMember([]byte(body))
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &obj) != nil || len(obj) == 0 {
			return
		}
		for name := range obj {
			quoted, _ := json.Marshal(name)
			twice := strings.TrimSpace(body)
			twice = twice[:len(twice)-1] + "," + string(quoted) + ":null}"
			if _, repeated := repeatedMember([]byte(twice)); !repeated {
				t.Fatalf("%s: repeated %q not found", twice, name)
			}
			return
		}
	})
}
