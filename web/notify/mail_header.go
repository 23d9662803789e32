package notify

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// encodedWordMax bounds one encoded-word, so that "Subject: " and a word
// fit in the 76 characters RFC 2047 allows a line that carries one.
const encodedWordMax = 66

// isPlainHeaderText reports whether s can go into an unstructured header
// (Subject) as it is and still be shown literally: printable ASCII only;
// no "=?", with which a mail client would take a run of it for an RFC 2047
// encoded-word and show what that word decodes to; and no space that
// folding or unfolding could lose (leading, trailing or doubled).
func isPlainHeaderText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return !strings.Contains(s, "=?") && !strings.Contains(s, "  ") && strings.TrimSpace(s) == s
}

// encodeHeaderText is s as RFC 2047 Q-encoded words, the whole text
// encoded, folded onto continuation lines ("\r\n "); a decoder drops the
// whitespace between encoded-words, so it shows s exactly. Only letters,
// digits and "!*+-/" stay as they are (the set RFC 2047 section 5 allows
// in every position); a space is "_"; every other byte is =XX. A word never
// splits a UTF-8 sequence.
func encodeHeaderText(s string) string {
	const prefix, suffix = "=?utf-8?q?", "?="
	budget := encodedWordMax - len(prefix) - len(suffix)
	var words []string
	var word strings.Builder
	for i := 0; i < len(s); {
		_, width := utf8.DecodeRuneInString(s[i:])
		var enc strings.Builder
		for _, b := range []byte(s[i : i+width]) {
			switch {
			case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', strings.IndexByte("!*+-/", b) >= 0:
				enc.WriteByte(b)
			case b == ' ':
				enc.WriteByte('_')
			default:
				fmt.Fprintf(&enc, "=%02X", b)
			}
		}
		if word.Len() > 0 && word.Len()+enc.Len() > budget {
			words = append(words, prefix+word.String()+suffix)
			word.Reset()
		}
		word.WriteString(enc.String())
		i += width
	}
	if word.Len() > 0 || len(words) == 0 {
		words = append(words, prefix+word.String()+suffix)
	}
	return strings.Join(words, "\r\n ")
}

// messageIDDomain is the right side of the Message-IDs of keydesk's mail:
// the host of KEYDESK_BASE_URL (an address as a domain literal).
func messageIDDomain(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("KEYDESK_BASE_URL has no host: %q", baseURL)
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return "[" + host + "]", nil
	}
	return host, nil
}
