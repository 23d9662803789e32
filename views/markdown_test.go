package views

import (
	"reflect"
	"testing"
)

func TestMarkdownBlocks(t *testing.T) {
	got := markdownBlocks("One `code` and **strong**\nwrapped line.\n\n- first\n  continued\n- `second`\n\nAn open ` mark and a * star.")
	want := []mdBlock{
		{Items: [][]mdSpan{{{Text: "One "}, {Text: "code", Code: true}, {Text: " and "}, {Text: "strong", Strong: true}, {Text: " wrapped line."}}}},
		{List: true, Items: [][]mdSpan{{{Text: "first continued"}}, {{Text: "second", Code: true}}}},
		{Items: [][]mdSpan{{{Text: "An open ` mark and a * star."}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("markdownBlocks:\n got %+v\nwant %+v", got, want)
	}
}
