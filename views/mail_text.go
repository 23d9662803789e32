package views

import "strings"

// MailText is a notice's plain-text part, the same words as MailHTML.
func MailText(m MailNotice) string {
	var b strings.Builder
	b.WriteString(m.Heading + "\n\n")
	for _, line := range m.Lines {
		b.WriteString(line + "\n\n")
	}
	if m.Link != "" {
		b.WriteString(m.LinkLabel + ": " + m.Link + "\n\n")
	}
	b.WriteString("-- \n" + m.Footer + "\n")
	return b.String()
}
