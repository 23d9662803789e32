package web

import "keydesk/routes"

// adminsRoutes registers General » Admins and the two-factor policy on the
// full-access group.
func (s *Server) adminsRoutes(full routeSet, general func(string) string) {
	h := s.Handlers
	full.GET(general(routes.Admins), h.Admins)
	full.POST(general(routes.AdminInvite), h.InviteAdmin)
	full.GET(general(routes.AdminAccessRoute), h.AdminAccessForm)
	full.POST(general(routes.AdminAccessRoute), h.ChangeAdminAccess)
	full.GET(general(routes.AdminRemoveRoute), h.AdminRemoveForm)
	full.POST(general(routes.AdminRemoveRoute), h.RemoveAdmin)
	full.POST(general(routes.InvitationRevokeRoute), h.RevokeInvitation)
	full.POST(general(routes.SettingsTwoFactor), h.SetTwoFactorPolicy)
}

// accountRoutes registers /account on a group of signed-in admins that the
// two-factor policy does not redirect.
func (s *Server) accountRoutes(g routeSet) {
	h := s.Handlers
	g.GET(routes.Account, h.Account)
	g.POST(routes.AccountPassword, h.ChangePassword)
	g.POST(routes.AccountSignOutOthers, h.SignOutOtherSessions)
	g.POST(routes.AccountTOTPSetup, h.SetupTOTP)
	g.POST(routes.AccountTOTPConfirm, h.ConfirmTOTP)
	g.POST(routes.AccountTOTPRemove, h.RemoveTOTP)
	g.POST(routes.AccountRecoveryCodes, h.RegenerateRecoveryCodes)
}
