package views

import "strings"

// The API reference's texts (from openapi.yaml) are a little Markdown:
// paragraphs split by blank lines and wrapped at ~90 columns, "- " lists,
// `code` and **strong**. markdownBlocks reads exactly that into blocks of
// spans that templ renders, escaped like any text: no HTML from the file
// reaches the page, and its line breaks do not either (no hard wraps).

// mdSpan is a run of text, shown as code, strong or plain.
type mdSpan struct {
	Text   string
	Code   bool
	Strong bool
}

// mdBlock is a paragraph (one item) or a list (an item per entry).
type mdBlock struct {
	List  bool
	Items [][]mdSpan
}

func markdownBlocks(src string) []mdBlock {
	var blocks []mdBlock
	for _, para := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n\n") {
		lines := strings.Split(strings.TrimSpace(para), "\n")
		if len(lines) == 0 || strings.TrimSpace(lines[0]) == "" {
			continue
		}
		var entries []string
		list := isBullet(lines[0])
		for _, line := range lines {
			line = strings.TrimSpace(line)
			switch {
			case list && isBullet(line):
				entries = append(entries, strings.TrimSpace(line[2:]))
			case len(entries) == 0:
				entries = append(entries, line)
			default:
				entries[len(entries)-1] += " " + line
			}
		}
		b := mdBlock{List: list}
		for _, e := range entries {
			b.Items = append(b.Items, markdownSpans(e))
		}
		blocks = append(blocks, b)
	}
	return blocks
}

func isBullet(line string) bool {
	line = strings.TrimSpace(line)
	return strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* ")
}

// markdownSpans splits a line at `code` and **strong** marks; a mark left
// open is shown as the text it is.
func markdownSpans(s string) []mdSpan {
	var out []mdSpan
	for s != "" {
		i := strings.IndexAny(s, "`*")
		if i < 0 {
			out = appendText(out, s)
			break
		}
		if s[i] == '`' {
			if j := strings.IndexByte(s[i+1:], '`'); j >= 0 {
				out = appendText(out, s[:i])
				out = append(out, mdSpan{Text: s[i+1 : i+1+j], Code: true})
				s = s[i+2+j:]
				continue
			}
		} else if strings.HasPrefix(s[i:], "**") {
			if j := strings.Index(s[i+2:], "**"); j >= 0 {
				out = appendText(out, s[:i])
				out = append(out, mdSpan{Text: s[i+2 : i+2+j], Strong: true})
				s = s[i+4+j:]
				continue
			}
		}
		out = appendText(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// appendText adds plain text, joined to a plain span before it.
func appendText(out []mdSpan, text string) []mdSpan {
	if text == "" {
		return out
	}
	if n := len(out); n > 0 && !out[n-1].Code && !out[n-1].Strong {
		out[n-1].Text += text
		return out
	}
	return append(out, mdSpan{Text: text})
}
