package web

import "keydesk/routes"

// passkeyAccountRoutes registers adding, renaming and removing passkeys on
// /account's group (open to an admin the two-factor policy sends there).
func (s *Server) passkeyAccountRoutes(g routeSet) {
	h := s.Handlers
	g.POST(routes.AccountPasskeyOptions, h.PasskeyRegisterOptions)
	g.POST(routes.AccountPasskeys, h.PasskeyRegister)
	g.GET(routes.AccountPasskeyRenameRoute, h.RenamePasskeyForm)
	g.POST(routes.AccountPasskeyRenameRoute, h.RenamePasskey)
	g.GET(routes.AccountPasskeyRemoveRoute, h.RemovePasskeyForm)
	g.POST(routes.AccountPasskeyRemoveRoute, h.RemovePasskey)
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

// stepUpRoutes registers the confirmation dialog's routes: the password
// (with the authenticator code), Use passkey, and for a session single
// sign-on started the code alone or the identity provider.
func (s *Server) stepUpRoutes(signedIn routeSet) {
	h := s.Handlers
	signedIn.POST(routes.Reauth, h.Reauthenticate)
	signedIn.POST(routes.ReauthPasskeyOptions, h.ReauthPasskeyOptions)
	signedIn.POST(routes.ReauthPasskey, h.ReauthPasskey)
	signedIn.POST(routes.ReauthSSO, h.ReauthSSO)
	signedIn.POST(routes.ReauthCode, h.ReauthenticateCode)
}
