package handlers

// revealAction is the metric label of a reveal or a copy.
func revealAction(copied bool) string {
	if copied {
		return "copy"
	}
	return "reveal"
}
