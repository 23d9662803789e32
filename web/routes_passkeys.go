package web

import "keydesk/routes"

// passkeyAccountRoutes registers adding, renaming and removing passkeys on
// /account's group (open to an admin the two-factor policy sends there).
func (s *Server) passkeyAccountRoutes(g routeSet) {
	h := s.Handlers
	g.POST(routes.AccountPasskeyOptions, h.PasskeyRegisterOptions)
	g.POST(routes.AccountPasskeys, h.PasskeyRegister)
	g.POST(routes.AccountPasskeyRenameRoute, h.RenamePasskey)
	g.POST(routes.AccountPasskeyRemoveRoute, h.RemovePasskey)
	g.POST(routes.AccountPasskeyOnly, h.SetPasskeyOnly)
}

// passkeySignInRoutes registers the passkey sign-in (usernameless, and as
// the second step after the password) on the console's public routes.
func (s *Server) passkeySignInRoutes(console routeSet) {
	h := s.Handlers
	console.POST(routes.LoginPasskeyOptions, h.LoginPasskeyOptions)
	console.POST(routes.LoginPasskey, h.LoginPasskey)
	console.POST(routes.LoginCodePasskeyOptions, h.LoginCodePasskeyOptions)
	console.POST(routes.LoginCodePasskey, h.LoginCodePasskey)
}

// passkeyReauthRoutes registers Use passkey of the password dialog next to
// the password's route (full-access admins).
func (s *Server) passkeyReauthRoutes(full routeSet, general func(string) string) {
	h := s.Handlers
	full.POST(general(routes.ReauthPasskeyOptions), h.ReauthPasskeyOptions)
	full.POST(general(routes.ReauthPasskey), h.ReauthPasskey)
}
