package web

import "keydesk/web/paths"

// adminsRoutes registers General » Admins and the two-factor policy on the
// full-access group.
func (s *Server) adminsRoutes(full routeSet, general func(string) string) {
	h := s.Handlers
	full.GET(general(paths.Admins), h.Admins)
	full.POST(general(paths.AdminInvite), h.InviteAdmin)
	full.GET(general(paths.AdminAccessRoute), h.AdminAccessForm)
	full.POST(general(paths.AdminAccessRoute), h.ChangeAdminAccess)
	full.GET(general(paths.AdminRemoveRoute), h.AdminRemoveForm)
	full.POST(general(paths.AdminRemoveRoute), h.RemoveAdmin)
	full.POST(general(paths.InvitationRevokeRoute), h.RevokeInvitation)
	full.POST(general(paths.SettingsTwoFactor), h.SetTwoFactorPolicy)
}

// accountRoutes registers /account on a group of signed-in admins that the
// two-factor policy does not redirect.
func (s *Server) accountRoutes(g routeSet) {
	h := s.Handlers
	g.GET(paths.Account, h.Account)
	g.POST(paths.AccountPassword, h.ChangePassword)
	g.POST(paths.AccountSignOutOthers, h.SignOutOtherSessions)
	g.POST(paths.AccountTOTPSetup, h.SetupTOTP)
	g.POST(paths.AccountTOTPConfirm, h.ConfirmTOTP)
	g.POST(paths.AccountTOTPRemove, h.RemoveTOTP)
}
