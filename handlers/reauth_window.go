package handlers

import "time"

// reauthUntil is when the admin's password confirmation in the current
// program stops letting them show keys without a password; zero when there
// is none open, or when every show asks (a zero window).
func (h *Handler) reauthUntil(p *Principal) time.Time {
	if h.reauthWindow <= 0 || p == nil || p.ReauthAt.IsZero() || p.ReauthProgramID != p.Program.ID {
		return time.Time{}
	}
	if p.Admin.ReauthLockedUntil != nil && p.Admin.ReauthLockedUntil.After(h.now()) {
		return time.Time{}
	}
	until := p.ReauthAt.Add(h.reauthWindow)
	if !until.After(h.now()) {
		return time.Time{}
	}
	return until
}
