package main

import (
	"fmt"
	"testing"
)

func TestParseOnly(t *testing.T) {
	for _, c := range []struct {
		list, want string
	}{
		{"", "map[]"},
		{" ", "map[]"},
		{"9", "map[9:true]"},
		{"4, 9,4", "map[4:true 9:true]"},
		{"1,10", "map[1:true 10:true]"},
		{"11", "map[11:true]"},
	} {
		only, err := parseOnly(c.list)
		if err != nil || fmt.Sprint(only) != c.want {
			t.Errorf("parseOnly(%q) = %v, %v; want %s", c.list, only, err, c.want)
		}
		if c.want == "map[]" && only != nil {
			t.Errorf("parseOnly(%q) is not nil: every scenario must run", c.list)
		}
	}
	for _, bad := range []string{"0", "13", "a", "4,", "4;9"} {
		if only, err := parseOnly(bad); err == nil {
			t.Errorf("parseOnly(%q) = %v, no error", bad, only)
		}
	}
	b := &bench{}
	if !b.runs(3) {
		t.Error("without -only, scenario 3 does not run")
	}
	b.only, _ = parseOnly("9")
	if b.runs(3) || !b.runs(9) {
		t.Error("-only 9: wrong scenarios run")
	}
}
