package web

import "keydesk/web/paths"

// passkeyAccountRoutes registers adding, renaming and removing passkeys on
// /account's group (open to an admin the two-factor policy sends there).
func (s *Server) passkeyAccountRoutes(g routeSet) {
	h := s.Handlers
	g.POST(paths.AccountPasskeyOptions, h.PasskeyRegisterOptions)
	g.POST(paths.AccountPasskeys, h.PasskeyRegister)
	g.POST(paths.AccountPasskeyRenameRoute, h.RenamePasskey)
	g.POST(paths.AccountPasskeyRemoveRoute, h.RemovePasskey)
	g.POST(paths.AccountPasskeyOnly, h.SetPasskeyOnly)
}

// passkeySignInRoutes registers the passkey sign-in (usernameless, and as
// the second step after the password) on the console's public routes.
func (s *Server) passkeySignInRoutes(console routeSet) {
	h := s.Handlers
	console.POST(paths.LoginPasskeyOptions, h.LoginPasskeyOptions)
	console.POST(paths.LoginPasskey, h.LoginPasskey)
	console.POST(paths.LoginCodePasskeyOptions, h.LoginCodePasskeyOptions)
	console.POST(paths.LoginCodePasskey, h.LoginCodePasskey)
}

// passkeyReauthRoutes registers Use passkey of the password dialog next to
// the password's route (full-access admins).
func (s *Server) passkeyReauthRoutes(full routeSet, general func(string) string) {
	h := s.Handlers
	full.POST(general(paths.ReauthPasskeyOptions), h.ReauthPasskeyOptions)
	full.POST(general(paths.ReauthPasskey), h.ReauthPasskey)
}
