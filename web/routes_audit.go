package web

// auditTrailRoutes registers General » Audit Trail on a group that already
// requires a signed-in admin holding the audit_trail module.
func (s *Server) auditTrailRoutes(g routeSet) {
	h := s.Handlers
	g.GET("", h.AuditTrail)
	g.GET("/download", h.DownloadAuditTrail)
	g.POST("/verify", h.VerifyAuditTrail)
}
